"""librdkafka's transactional errors, as Platewatch reports and counts them."""

from __future__ import annotations

from streams.errors import PlatewatchError


class FencedError(PlatewatchError):
    """The transactional producer failed fatally (fenced, or its transaction timed out by the broker)."""


def abort_reason(exc: BaseException) -> str:
    """A label with a bounded set of values: the librdkafka error name, or the exception's class."""
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "name"):
        return str(args[0].name())
    return type(exc).__name__


def describe(exc: BaseException) -> str:
    """librdkafka's own words for an error, else the exception's."""
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "str"):
        return str(args[0].str())
    return str(exc)
