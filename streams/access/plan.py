"""`acls plan`: the difference between the grants the registry calls for and the broker's, readable
by a compliance officer, the same for the same input.

The plan lists SCRAM users to create and to delete, ACL bindings to add and to remove, grouped by
principal and sorted; an empty plan says so. Plain code: the live state is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.access.grants import (
    Binding,
    Deployment,
    Identity,
    desired_bindings,
    identities,
    managed,
    manages_user,
)
from streams.policy.jurisdiction_filter import SharingPolicy


@dataclass(frozen=True)
class AccessPlan:
    create_users: tuple[Identity, ...] = ()
    delete_users: tuple[str, ...] = ()
    add: tuple[Binding, ...] = ()
    remove: tuple[Binding, ...] = ()
    unchanged: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.create_users or self.delete_users or self.add or self.remove)

    def render(self) -> str:
        lines = []
        if self.empty:
            lines.append(f"no changes: the broker grants exactly what the registry and policy call for "
                         f"({self.unchanged} ACL bindings)")  # fmt: skip
        for identity in self.create_users:
            about = f" (agency {identity.agency})" if identity.agency else ""
            lines.append(f"+ user   {identity.name:<30} {identity.role}{about}")
        lines.extend(
            f"- user   {name:<30} revoked: password replaced by one nobody holds" for name in self.delete_users
        )
        lines.extend(f"+ allow  {b.describe()}" for b in self.add)
        lines.extend(f"- revoke {b.describe()}" for b in self.remove)
        if not self.empty:
            lines.append(
                f"plan: {len(self.create_users)} users to create, {len(self.delete_users)} to delete, "
                f"{len(self.add)} ACL bindings to add, {len(self.remove)} to remove, {self.unchanged} unchanged"
            )
        lines.extend(self.notes)
        return "\n".join(lines)


def plan_access(
    policy: SharingPolicy, d: Deployment, live_bindings: Iterable[Binding], live_users: Iterable[str]
) -> AccessPlan:
    want_users = identities(policy, d)
    want_names = {i.name for i in want_users}
    users = set(live_users)
    live = set(live_bindings)
    want = desired_bindings(policy, d)
    owned = managed(live, d)
    holders = {b.principal for b in live}
    owned_users = {u for u in users if manages_user(u, d)}
    return AccessPlan(
        create_users=tuple(i for i in want_users if i.name not in users),
        # a user the registry no longer names is revoked while it still holds grants; once revoked
        # (password replaced, grants gone: Kafka 4.1.1 cannot delete one safely) it holds none
        delete_users=tuple(sorted(u for u in owned_users - want_names if f"User:{u}" in holders)),
        add=tuple(sorted(want - live)),
        remove=tuple(sorted(owned - want)),
        unchanged=len(want & live),
    )
