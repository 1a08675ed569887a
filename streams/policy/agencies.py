"""The agency registry: who may receive alerts, and what the law needs to know about them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Level(enum.StrEnum):
    LOCAL = "local"
    COUNTY = "county"
    STATE = "state"
    FEDERAL = "federal"
    TRIBAL = "tribal"


class Kind(enum.StrEnum):
    LAW_ENFORCEMENT = "law_enforcement"
    PROSECUTOR = "prosecutor"
    DEFENSE = "defense"
    COURT = "court"
    OTHER_PUBLIC = "other_public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Subscription:
    """Alerts an agency asked for beyond its own reads: hits on these lists, from these states."""

    lists: frozenset[str] = frozenset()  # empty: every list
    states: frozenset[str] = frozenset()  # reading agency's state; empty: every state

    def wants(self, list_id: str, reader_state: str) -> bool:
        return (not self.lists or list_id in self.lists) and (not self.states or reader_state in self.states)


@dataclass(frozen=True, slots=True)
class Agency:
    ori: str
    name: str
    state: str
    level: Level
    kind: Kind
    subscriptions: tuple[Subscription, ...] = field(default=())


class AgencyRegistry:
    def __init__(self, agencies: Iterable[Agency]) -> None:
        self._by_ori: dict[str, Agency] = {}
        self._subscribers: dict[tuple[str, str], list[Agency]] = {}
        for a in agencies:
            if a.ori in self._by_ori:
                raise ValueError(f"agency {a.ori} is listed twice")
            self._by_ori[a.ori] = a

    def get(self, ori: str) -> Agency | None:
        return self._by_ori.get(ori)

    def __len__(self) -> int:
        return len(self._by_ori)

    def __iter__(self) -> Any:
        return iter(self._by_ori.values())

    def subscribers(self, list_id: str, reader_state: str) -> list[Agency]:
        """Agencies subscribed to hits on `list_id` from reads taken in `reader_state` (cached: the
        registry never changes, a new version is a new registry)."""
        key = (list_id, reader_state)
        found = self._subscribers.get(key)
        if found is None:
            found = self._subscribers[key] = [
                a for a in self._by_ori.values() if any(s.wants(list_id, reader_state) for s in a.subscriptions)
            ]
        return found

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AgencyRegistry:
        """Build from a document that already passed schemas/agency-registry.schema.json."""
        return cls(
            Agency(
                ori=a["ori"],
                name=a["name"],
                state=a["state"],
                level=Level(a["level"]),
                kind=Kind(a["kind"]),
                subscriptions=tuple(
                    Subscription(frozenset(s.get("lists", ())), frozenset(s.get("states", ())))
                    for s in a.get("subscriptions", ())
                ),
            )
            for a in doc["agencies"]
        )
