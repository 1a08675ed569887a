"""Topic names and configurations: one place, so workers, tools and tests agree."""

from __future__ import annotations

from dataclasses import dataclass

PLATE_READS = "plate-reads"
PLATE_READS_DLQ = "plate-reads.dlq"
HOTLIST_UPDATES = "hotlist-updates"
SHARE_AUDIT = "share-audit"
ALERTS_PREFIX = "alerts."


def alert_topic(recipient_ori: str, prefix: str = ALERTS_PREFIX) -> str:
    """The topic that only `recipient_ori` may read (broker ACLs enforce what the filter decided)."""
    return f"{prefix}{recipient_ori}"


@dataclass(frozen=True)
class TopicNames:
    """Topic names of one deployment; tests give every run its own."""

    plate_reads: str = PLATE_READS
    dlq: str = PLATE_READS_DLQ
    hotlist_updates: str = HOTLIST_UPDATES
    share_audit: str = SHARE_AUDIT
    alerts_prefix: str = ALERTS_PREFIX

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        if not prefix:
            return cls()
        return cls(
            plate_reads=f"{prefix}{PLATE_READS}",
            dlq=f"{prefix}{PLATE_READS_DLQ}",
            hotlist_updates=f"{prefix}{HOTLIST_UPDATES}",
            share_audit=f"{prefix}{SHARE_AUDIT}",
            alerts_prefix=f"{prefix}{ALERTS_PREFIX}",
        )

    def alerts(self, recipient_ori: str) -> str:
        return alert_topic(recipient_ori, self.alerts_prefix)
