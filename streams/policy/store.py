"""The policy in force, loaded from files and hot-reloaded: all or nothing, never half a policy.

A new version takes effect from the next batch (callers read `current` once per batch). A file that
fails validation is refused whole: the old version stays in force, and the refusal is logged and
reported to `on_refused` (the worker counts it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streams.policy.config_files import ConfigFileError, load_validated
from streams.policy.jurisdiction_filter import NoPolicy, SharingPolicy

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_POLICY = DATA_DIR / "policy.yaml"
DEFAULT_REGISTRY = DATA_DIR / "agencies.yaml"
POLICY_SCHEMA = "sharing-policy.schema.json"
REGISTRY_SCHEMA = "agency-registry.schema.json"


def load_policy(policy_path: Path, registry_path: Path) -> SharingPolicy:
    """Both files, validated and cross-checked; ConfigFileError names the file, line and field."""
    policy_doc, policy_lines, _ = load_validated(policy_path, POLICY_SCHEMA)
    registry_doc, registry_lines, _ = load_validated(registry_path, REGISTRY_SCHEMA)
    seen: dict[str, int] = {}
    for i, agency in enumerate(registry_doc["agencies"]):
        line = registry_lines.get(("agencies", i, "ori"), 0)
        if agency["ori"] in seen:
            raise ConfigFileError(
                str(registry_path),
                [f"line {line}: agencies/{i}/ori: {agency['ori']} is also at line {seen[agency['ori']]}"],
            )
        seen[agency["ori"]] = line
    try:
        return SharingPolicy(policy_doc, registry_doc)
    except ValueError as exc:
        path = str(exc).split(":")[0].split("/")
        line = policy_lines.get(tuple(path), 0)
        raise ConfigFileError(str(policy_path), [f"line {line}: {exc}"]) from None


@dataclass(frozen=True)
class _Stamp:
    policy: tuple[float, int]
    registry: tuple[float, int]


def _stamp(path: Path) -> tuple[float, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0.0, -1)
    return (st.st_mtime, st.st_size)


class PolicyStore:
    def __init__(
        self,
        policy_path: Path = DEFAULT_POLICY,
        registry_path: Path = DEFAULT_REGISTRY,
        on_refused: Callable[[ConfigFileError], None] | None = None,
        on_loaded: Callable[[SharingPolicy], None] | None = None,
    ) -> None:
        self.policy_path = policy_path
        self.registry_path = registry_path
        self._on_refused = on_refused
        self._on_loaded = on_loaded
        self.current: SharingPolicy | NoPolicy = NoPolicy()
        self._stamp: _Stamp | None = None
        self.reload()

    def reload(self) -> bool:
        """Load both files now. True when a new version took effect."""
        stamp = _Stamp(_stamp(self.policy_path), _stamp(self.registry_path))
        self._stamp = stamp
        try:
            policy = load_policy(self.policy_path, self.registry_path)
        except ConfigFileError as exc:
            log.error("policy refused, version %s stays in force: %s", self.current.version, exc)
            if self._on_refused:
                self._on_refused(exc)
            return False
        if policy.version == self.current.version:
            return False
        log.info("policy version %s in force (%s, %s)", policy.version, self.policy_path, self.registry_path)
        self.current = policy
        if self._on_loaded:
            self._on_loaded(policy)
        return True

    def maybe_reload(self) -> bool:
        """Reload when either file changed since the last look (two stat calls)."""
        stamp = _Stamp(_stamp(self.policy_path), _stamp(self.registry_path))
        if stamp == self._stamp:
            return False
        return self.reload()
