"""`acls plan|apply` and `identities rotate` against the broker, through librdkafka's AdminClient.

Reads the live ACL bindings and SCRAM users, hands them to `streams.access.plan`, and applies a plan:
new users get a generated password, stored once in `<credentials_dir>/<user>.password` (mode 0600,
readable only by its owner) and never printed or logged; a removed user's password is replaced by one
nobody knows (Kafka 4.1.1 cannot survive a restart after a SCRAM deletion) and revoked bindings are
deleted. Rotation writes a new password and replaces the credential on the broker; open sessions end
at their next re-authentication (`connections.max.reauth.ms` on the broker).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streams.access.grants import Binding
from streams.access.plan import AccessPlan
from streams.errors import EXIT_DENIED, BrokerUnavailableError, PlatewatchError
from streams.kafka.clients import KafkaClients

SCRAM_ITERATIONS = 8192
TIMEOUT_S = 30.0


class AccessAdminError(PlatewatchError):
    """The broker refused a change of users or ACLs."""

    exit_code = EXIT_DENIED
    hint = "run as the admin identity (a super user) against a broker with an authorizer"


def _wait(futures: dict[Any, Any]) -> dict[Any, Any]:
    out = {}
    for key, future in futures.items():
        try:
            out[key] = future.result(timeout=TIMEOUT_S)
        except Exception as exc:
            raise AccessAdminError(f"{key}: {type(exc).__name__}: {exc}") from None
    return out


class BrokerAccess:
    def __init__(self, clients: KafkaClients, credentials_dir: Path) -> None:
        self.clients = clients
        self.credentials_dir = credentials_dir
        self.admin = clients.rdkafka_admin()
        self.timeout_s = max(1.0, clients.settings.broker_wait_seconds)

    def live_bindings(self) -> set[Binding]:
        from confluent_kafka.admin import (  # noqa: PLC0415
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        anything: Any = None  # a filter's None matches every name, principal and host
        every = AclBindingFilter(
            ResourceType.ANY, anything, ResourcePatternType.ANY, anything, anything, AclOperation.ANY,
            AclPermissionType.ANY,
        )  # fmt: skip
        try:
            found = self.admin.describe_acls(every, request_timeout=self.timeout_s).result(timeout=self.timeout_s)
        except Exception as exc:
            raise _broker_error(self.clients, exc) from None
        return {
            Binding(
                principal=b.principal,
                resource_type=b.restype.name,
                pattern_type=b.resource_pattern_type.name,
                resource_name=b.name,
                operation=b.operation.name,
                host=b.host,
                permission=b.permission_type.name,
            )
            for b in found
        }

    def live_users(self) -> set[str]:
        try:
            described = self.admin.describe_user_scram_credentials(request_timeout=self.timeout_s)
            users = described.result(timeout=self.timeout_s) if hasattr(described, "result") else _wait(described)
        except Exception as exc:
            raise _broker_error(self.clients, exc) from None
        return set(users)

    def apply(self, plan: AccessPlan) -> list[Path]:
        """Make the broker match `plan`; returns the credential files written."""
        written = self._upsert_users([i.name for i in plan.create_users])
        if plan.delete_users:
            # Kafka 4.1.1 loses every SCRAM credential at its next restart once one has been deleted
            # (its metadata replay drops the whole user set), so a user is revoked, not deleted: its
            # password becomes a random one that is stored nowhere, and its grants go below.
            self._upsert_users(plan.delete_users, store=False)
            for user in plan.delete_users:
                (self.credentials_dir / f"{user}.password").unlink(missing_ok=True)
        if plan.add:
            _wait(self.admin.create_acls([_acl(b) for b in plan.add], request_timeout=TIMEOUT_S))
        if plan.remove:
            _wait(self.admin.delete_acls([_acl(b, exact=True) for b in plan.remove], request_timeout=TIMEOUT_S))
        return written

    def rotate(self, user: str) -> Path:
        if user not in self.live_users():
            raise AccessAdminError(f"no SCRAM user {user!r} on the broker", hint="see `platewatch acls plan`")
        (path,) = self._upsert_users([user])
        return path

    def _upsert_users(self, users: Iterable[str], *, store: bool = True) -> list[Path]:
        from confluent_kafka.admin import (  # noqa: PLC0415
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialAlteration,
            UserScramCredentialUpsertion,
        )

        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        passwords = {user: secrets.token_urlsafe(24) for user in users}
        if not passwords:
            return []
        upserts: list[UserScramCredentialAlteration] = [
            UserScramCredentialUpsertion(u, info, pw.encode()) for u, pw in passwords.items()
        ]
        _wait(self.admin.alter_user_scram_credentials(upserts, request_timeout=TIMEOUT_S))
        if not store:
            return []
        return [store_secret(self.credentials_dir / f"{user}.password", pw) for user, pw in passwords.items()]


def store_secret(path: Path, secret: str) -> Path:
    """Write `secret` to `path` readable by its owner only (0600), replacing what was there."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def _acl(b: Binding, *, exact: bool = False) -> Any:
    """The binding for create_acls, or (exact) the filter that matches only it, for delete_acls."""
    from confluent_kafka.admin import (  # noqa: PLC0415
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    kind = AclBindingFilter if exact else AclBinding
    return kind(
        ResourceType[b.resource_type],
        b.resource_name,
        ResourcePatternType[b.pattern_type],
        b.principal,
        b.host,
        AclOperation[b.operation],
        AclPermissionType[b.permission],
    )


def _broker_error(clients: KafkaClients, exc: Exception) -> PlatewatchError:
    text = f"{type(exc).__name__}: {exc}"
    if "SECURITY_DISABLED" in text or "No Authorizer" in text:
        return AccessAdminError(f"the broker at {clients.settings.bootstrap_servers} has no authorizer: {text}")
    if isinstance(exc, TimeoutError) or any(x in text for x in ("TRANSPORT", "TIMED_OUT", "timed out", "Timed out")):
        return BrokerUnavailableError(
            f"Kafka at {clients.settings.bootstrap_servers} unreachable for {clients.settings.broker_wait_seconds:g}s"
        )
    return AccessAdminError(text)
