"""Topic names and configurations: one place, so workers, tools and tests agree."""

from __future__ import annotations

import re
from dataclasses import dataclass

PLATE_READS = "plate-reads"
READS_PREFIX = "plate-reads."  # plate-reads.<ORI>: one input topic per reading agency
PLATE_READS_DLQ = "plate-reads.dlq"
HOTLIST_UPDATES = "hotlist-updates"
SHARE_AUDIT = "share-audit"
BATCH_COUNTS = "batch-counts"  # reads, hits and dead letters per reading agency and batch (the audit report's)
ACCESS_LOG = "access-log"  # one record per query of retained ALPR data through Platewatch
ALERTS_PREFIX = "alerts."
_ORI = re.compile("[A-Z0-9]{9}")


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
    batch_counts: str = BATCH_COUNTS
    access_log_prefix: str = ACCESS_LOG + "."  # access-log.<ORI>: only that agency may write it
    alerts_prefix: str = ALERTS_PREFIX
    reads_prefix: str = READS_PREFIX

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        if not prefix:
            return cls()
        return cls(
            plate_reads=f"{prefix}{PLATE_READS}",
            dlq=f"{prefix}{PLATE_READS_DLQ}",
            hotlist_updates=f"{prefix}{HOTLIST_UPDATES}",
            share_audit=f"{prefix}{SHARE_AUDIT}",
            batch_counts=f"{prefix}{BATCH_COUNTS}",
            access_log_prefix=f"{prefix}{ACCESS_LOG}.",
            alerts_prefix=f"{prefix}{ALERTS_PREFIX}",
            reads_prefix=f"{prefix}{READS_PREFIX}",
        )

    def alerts(self, recipient_ori: str) -> str:
        return alert_topic(recipient_ori, self.alerts_prefix)

    def access_log_for(self, ori: str) -> str:
        """Where accesses to agency `ori`'s retained alerts are recorded: only that agency (and the admin)
        may write it, so an access record's agency is proven by its topic, like a read's."""
        return f"{self.access_log_prefix}{ori}"

    def access_log_agency(self, topic: str) -> str | None:
        """The agency of an access-log topic, or None."""
        if topic.startswith(self.access_log_prefix) and _ORI.fullmatch(ori := topic[len(self.access_log_prefix) :]):
            return ori
        return None

    def reads_for(self, reading_ori: str) -> str:
        """The input topic of one agency's cameras: only its ingest gateway may write it."""
        return f"{self.reads_prefix}{reading_ori}"

    @property
    def reads_pattern(self) -> str:
        """A regular expression for every agency's input topic (not the dead-letter topic)."""
        return f"^{re.escape(self.reads_prefix)}[A-Z0-9]{{9}}$"

    def recipient_of(self, topic: str) -> str | None:
        """The ORI whose alert topic this is; None for any other topic."""
        if topic.startswith(self.alerts_prefix):
            ori = topic[len(self.alerts_prefix) :]
            if _ORI.fullmatch(ori):
                return ori
        return None

    def reading_agency_of(self, topic: str) -> str | None:
        """The ORI whose input topic this is; None for the single development topic (or any other)."""
        if topic.startswith(self.reads_prefix):
            ori = topic[len(self.reads_prefix) :]
            if _ORI.fullmatch(ori):
                return ori
        return None
