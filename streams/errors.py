"""What can go wrong, as a tree the CLI turns into one line and an exit code.

Library code raises these and never exits; `streams.cli.main` is the only place that turns an error
into a message and a process exit status. Every message says what failed and, through `hint`, what
to do about it. Messages never carry a secret or (outside DEBUG logs) a plate.

Exit codes (documented in the README):
  0  done          1  a check said no (no hit, share denied, audit mismatch)
  2  usage or configuration error      3  Kafka (or the audit store) unreachable within the retry time
  4  refused input (policy, registry or hotlist file)      5  the broker (or the audit store) denied this identity
  70 internal error (a bug: --debug)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2
EXIT_BROKER = 3
EXIT_REFUSED = 4
EXIT_DENIED = 5
EXIT_INTERNAL = 70


class PlatewatchError(Exception):
    """Base of every error Platewatch reports to a user."""

    exit_code = EXIT_INTERNAL
    hint = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def one_line(self) -> str:
        text = " ".join(str(self).split())
        return f"{text}; {self.hint}" if self.hint else text


class ConfigurationError(PlatewatchError):
    """A setting, flag or configuration file value that cannot be used."""

    exit_code = EXIT_USAGE
    hint = "see `platewatch COMMAND --help`"


class BrokerUnavailableError(PlatewatchError):
    """Kafka could not be reached (or refused us) within the configured retry time."""

    exit_code = EXIT_BROKER
    hint = "check --bootstrap-servers and that Kafka runs (`make kafka-up` starts a local one)"


class StoreUnavailableError(PlatewatchError):
    """The audit store (SQLite file or PostgreSQL) could not be reached or failed a statement."""

    exit_code = EXIT_BROKER
    hint = "check --audit-db-url and that the database runs (`deploy/postgres/pg.sh up` starts a local one)"


class InputRefusedError(PlatewatchError):
    """An input (policy, registry, hotlist file) refused whole, with where and why."""

    exit_code = EXIT_REFUSED


class AccessDeniedError(PlatewatchError):
    """The broker authenticated us but its ACLs do not let this identity do what was asked."""

    exit_code = EXIT_DENIED
    hint = "the identity lacks the grant: see `platewatch acls plan` (run by the admin)"
