"""One batch of raw plate reads in, every outbound message out: decode → match → filter → alert.

Plain code with no Kafka import: the worker feeds it consumer records and sends what it returns;
the demo feeds it simulated reads. Nothing here waits on I/O.

No record may stop a partition: whatever decoding or sharing one read raises sends that read to the
dead letters (`internal_error`) and the batch goes on; `Pipeline.process_isolating` also survives an
exception in the batch-wide steps (plate encoding, matching) by bisecting the batch down to the
record that causes it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, Protocol, TypeVar, overload

import numpy as np
import orjson

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import Hit
from streams.pipeline.alert_builder import alert_id, alert_template, entry_owner, iso_ms, recipients
from streams.pipeline.outputs import BatchResult, EmittedAlert, Outbound, Share, Shares
from streams.pipeline.read_decoder import PlateRead, ReadRejection, Rejected, decode_batch, internal_error
from streams.pipeline.topics import TopicNames
from streams.plates.codes import encode_plates
from streams.policy.agencies import AgencyRegistry
from streams.policy.jurisdiction_filter import NoPolicy, SharingPolicy
from streams.policy.share_audit import audit_head, audit_tail, encode_audits

log = logging.getLogger(__name__)

PURPOSE = "hotlist_alert"
# pairs and (reading agency, owner, list) keys kept per policy: a pair's share about 0.7 KB, a key a
# tuple of references to shared pairs, about 150 bytes: at most about 17 MB, reached only by an
# agency registry of thousands
_SHARES_KEPT = 20_000
# a named tuple made from a tuple in C: a hit's outputs are thousands a batch, and a named tuple's own
# constructor is a Python function
_new = tuple.__new__


class ConsumedRecord(Protocol):
    """A record consumed from a read topic, as the pipeline reads it (aiokafka's ConsumerRecord has all of it)."""

    @property
    def value(self) -> bytes | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...


class SimulatedRecord(NamedTuple):
    """A consumed record built by hand: the simulated cameras of the demo, tests and benchmarks."""

    value: bytes | None
    key: bytes | None = None
    topic: str = ""
    partition: int = 0
    offset: int = 0
    timestamp: int = 0  # ms: broker append time (or producer create time, per topic config)


class RecordColumns(NamedTuple):
    """The value and topic of every record of a batch, as lists: what a consumer that has them so
    passes along with its records, which are then looked at only for hits and dead letters."""

    values: Sequence[bytes | None]
    topics: Sequence[str]


Clock = Callable[[], float]
S = TypeVar("S")
T = TypeVar("T")


class Computed(Sequence[T], Generic[S, T]):
    """`get` of each of `items`, computed when indexed: what the pipeline looks at only for a few
    records of a batch (a hit's read state and time, a consumed Message as a record)."""

    def __init__(self, items: Sequence[S], get: Callable[[S], T]) -> None:
        self._items = items
        self._get = get

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[T]: ...
    def __getitem__(self, i: int | slice) -> T | Sequence[T]:
        if isinstance(i, slice):
            return [self._get(item) for item in self._items[i]]
        return self._get(self._items[i])


class Pipeline:
    def __init__(
        self,
        index: HotlistIndex,
        policy: Callable[[], SharingPolicy | NoPolicy],
        topics: TopicNames | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.index = index
        self.policy = policy
        self.topics = topics or TopicNames()
        self.clock = clock
        self._agency_of_topic: dict[str, str | None] = {}
        self._shares_policy: SharingPolicy | NoPolicy | None = None
        self._shares_cache: dict[tuple[str, str, str], Shares] = {}  # (agency, owner, list)
        self._share_cache: dict[tuple[str, str], Share] = {}  # (agency, recipient)

    def process(self, records: Sequence[ConsumedRecord], columns: RecordColumns | None = None) -> BatchResult:
        if columns is None:
            columns = RecordColumns([r.value for r in records], [r.topic for r in records])
        result = BatchResult(reads=len(records))
        positions, reads, bad, agencies = decode_batch(columns.values)
        positions, reads = self._from_their_agency(columns.topics, positions, reads, bad, agencies, result.claimed)
        raw: list[str] = [r.plate for r in reads]
        # each plate's read: the reads' own plates, then their OCR candidates (a few reads have some)
        candidates = [(n, c.plate) for n, read in enumerate(reads) if read.candidates for c in read.candidates]
        raw += [plate for _, plate in candidates]
        candidate_of = np.array([n for n, _ in candidates], np.intp)
        read_of_plate = np.concatenate((np.arange(len(reads), dtype=np.intp), candidate_of))
        plates = encode_plates(raw, self.index.ocr)
        if plates.rejected:
            rejected_reads = {k for k in plates.rejected if k < len(reads)}
            for k in sorted(rejected_reads):
                bad.append(Rejected(positions[k], plates.rejected[k].value, f"plate {plates.rejected[k].value}"))
            if rejected_reads:
                plates.good[np.isin(read_of_plate, list(rejected_reads))] = False
        for rej in bad:
            self._dead_letter(records[rej.index], rej, result)
        if not reads:
            return result
        # state and time are only looked at for hits: computed on demand, not for every read
        hits = self.index.match(
            plates,
            read_of_plate,
            Computed(reads, lambda r: r.plate_state),
            Computed(reads, lambda r: r.time_ms // 1000),
        )
        if not hits:
            return result
        policy = self.policy()
        registry = policy.registry if isinstance(policy, SharingPolicy) else None
        emitted_ms = int(self.clock() * 1000)
        emitted_at = iso_ms(emitted_ms)  # one timestamp per batch: its alerts leave together
        by_read: dict[int, list[Hit]] = {}
        for hit in hits:
            by_read.setdefault(hit.read_index, []).append(hit)
        for k, its_hits in by_read.items():
            record = records[positions[k]]
            try:
                self._share(reads[k], record, its_hits, policy, registry, emitted_at, result)
            except Exception as exc:
                self._dead_letter(record, internal_error(positions[k], exc), result, exc)
        return result

    def _from_their_agency(
        self,
        topic_of: Sequence[str],
        positions: list[int],
        reads: list[PlateRead],
        bad: list[Rejected],
        agencies: Counter[str],
        claimed: Counter[str],
    ) -> tuple[list[int], list[PlateRead]]:
        """Reads whose agency_ori is the agency of the topic they came on; the others set aside.
        Reads on the single development topic carry no proof of their agency and pass as they are
        (counted in `claimed` by the agency they name)."""
        agency_of = self._agency_of_topic
        topics = set(topic_of)
        for topic in topics - agency_of.keys():
            agency_of[topic] = self.topics.reading_agency_of(topic)
        if all(agency_of[t] is None for t in topics):  # the development topic only: every read passes
            claimed.update(agencies)
            return positions, reads
        kept_positions: list[int] = []
        kept: list[PlateRead] = []
        for i, read in zip(positions, reads, strict=True):
            expected = agency_of[topic_of[i]]
            if expected is None:
                claimed[read.agency_ori] += 1
            elif read.agency_ori != expected:
                detail = f"agency_ori {read.agency_ori} on the input topic of {expected}"
                bad.append(Rejected(i, ReadRejection.AGENCY_MISMATCH.value, detail))
                continue
            kept_positions.append(i)
            kept.append(read)
        return kept_positions, kept

    def process_isolating(
        self, records: Sequence[ConsumedRecord], columns: RecordColumns | None = None, retries: int = 1
    ) -> BatchResult:
        """`process`, made safe against any one record: never raises an Exception.

        When nothing raises this is `process`, at the same cost. A batch that raises as a whole
        (plate encoding, matching or the policy lookup, which `process` does for the whole batch at
        once) is tried `retries` more times, then bisected: a half that goes through is kept, a half
        that raises is split again, down to the record that raises on its own, which goes to the dead
        letters as `internal_error`. Every other record is processed as usual, alerts and audits
        included. The result accounts for every record once, as `process` would.
        """
        failure: Exception | None = None
        for _ in range(max(retries, 0) + 1):
            try:
                return self.process(records, columns)
            except Exception as exc:
                failure = exc
        assert failure is not None
        log.warning(
            "a batch of %d records failed %d times (%s); bisecting it to set aside the record at fault",
            len(records),
            max(retries, 0) + 1,
            type(failure).__name__,
        )
        log.debug("the batch failure", exc_info=failure)
        return self._isolate(records, failure)

    def _isolate(self, records: Sequence[ConsumedRecord], failure: Exception) -> BatchResult:
        """The result of records whose batch raised `failure`: halves processed, or bisected again."""
        if len(records) <= 1:
            result = BatchResult(reads=len(records))
            for record in records:
                self._dead_letter(record, internal_error(0, failure), result, failure)
            return result
        result = BatchResult()
        mid = len(records) // 2
        for part in (records[:mid], records[mid:]):
            try:
                piece = self.process(part)
            except Exception as exc:
                piece = self._isolate(part, exc)
            result.merge(piece)
        return result

    def _share(
        self,
        read: PlateRead,
        record: ConsumedRecord,
        hits: list[Hit],
        policy: SharingPolicy | NoPolicy,
        registry: AgencyRegistry | None,
        emitted_at: str,
        result: BatchResult,
    ) -> None:
        """The alerts and audits of one read's hits. They join `result` only once all are built: a read
        is shared in full, or (when building its outputs raises) not at all, and dead-lettered."""
        audits: list[Outbound] = []
        alerts: list[Outbound] = []
        emitted: list[EmittedAlert] = []
        shared: list[tuple[PlateRead, Hit, Shares]] = []
        reading_agency, read_time_ms, broker_time_ms = read.agency_ori, read.time_ms, record.timestamp
        audit_topic = self.topics.share_audit
        for hit in hits:
            info = self.index.list_info(hit.entry.list_id)
            the_id = alert_id(read.read_id, hit)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "hit read=%s plate=%s list=%s kind=%s",
                    read.read_id,
                    hit.matched_plate,
                    hit.entry.list_id,
                    hit.kind.value,
                )
            head = audit_head(time=emitted_at, read_id=read.read_id, alert_id=the_id,
                              plate=hit.matched_plate, reading_agency=reading_agency)  # fmt: skip
            shares = self._shares(policy, registry, reading_agency, entry_owner(hit, info), hit.entry.list_id)
            audits += [_new(Outbound, (audit_topic, k, v, ())) for k, v in encode_audits(head, shares.audits)]
            shared.append((read, hit, shares))
            if not shares.allowed:
                continue
            before, after = alert_template(read, hit, info, emitted_at, the_id)  # once per hit
            key = the_id.encode()
            for share in shares.allowed:
                alerts.append(_new(Outbound, (share.alert_topic, key, before + share.recipient_json + after, ())))
                emitted.append(_new(EmittedAlert, (share.recipient, read_time_ms, broker_time_ms)))
        # all built: nothing below raises
        matches, decisions, denied_by = result.matches, result.decisions, result.denied
        for _, hit, shares in shared:
            matches[(hit.entry.list_id, hit.kind)] += 1  # a StrEnum: its value as a key, without the lookup
            if shares.allowed:
                decisions["allow"] += len(shares.allowed)
            if shares.denied:  # a profile rule's id, or why no rule could decide: both bounded by the policy
                decisions["deny"] += len(shares.denied)
                for rule, n in shares.rules:
                    denied_by[rule] += n
        result.shared += shared
        result.audits += audits
        result.alerts += alerts
        result.emitted += emitted

    def _shares(
        self, policy: SharingPolicy | NoPolicy, registry: AgencyRegistry | None, reading_agency: str, owner: str,
        list_id: str,
    ) -> Shares:  # fmt: skip
        """Who receives a hit of `list_id` read by `reading_agency` (entry owned by `owner`), and what the
        policy decides for each: the same for every such hit while this policy is in force (a new
        policy, a new registry, starts a new cache)."""
        if policy is not self._shares_policy:
            self._shares_policy, self._shares_cache, self._share_cache = policy, {}, {}
        key = (reading_agency, owner, list_id)
        shares = self._shares_cache.get(key)
        if shares is None:
            if len(self._shares_cache) >= _SHARES_KEPT:  # bounded; cleared, never wrong
                self._shares_cache.clear()
            each = [
                self._share_with(policy, reading_agency, r)
                for r in recipients(reading_agency, owner, list_id, registry)
            ]
            denied = tuple((s.recipient, s.rule) for s in each if not s.allowed)
            shares = self._shares_cache[key] = Shares(
                tuple(s.audit for s in each),
                tuple(s for s in each if s.allowed),
                denied,
                tuple(Counter(rule for _, rule in denied).items()),
            )
        return shares

    def _share_with(self, policy: SharingPolicy | NoPolicy, reading_agency: str, recipient: str) -> Share:
        """One (reading agency, recipient) pair's share, made once and used by every key that has it."""
        share = self._share_cache.get((reading_agency, recipient))
        if share is None:
            if len(self._share_cache) >= _SHARES_KEPT:
                self._share_cache.clear()
            decision = policy.decide(reading_agency, recipient, PURPOSE)
            tail = audit_tail(decision, reading_agency, recipient, PURPOSE)
            share = Share(recipient, decision.allowed, decision.rule, tail, self.topics.alerts(recipient),
                          orjson.dumps(recipient))  # fmt: skip
            self._share_cache[(reading_agency, recipient)] = share
        return share

    def _dead_letter(
        self, record: ConsumedRecord, rej: Rejected, result: BatchResult, exc: BaseException | None = None
    ) -> None:
        """The record, with its original bytes and key, to the dead-letter topic. Must not raise."""
        result.dlq_reasons[rej.reason] += 1
        headers: tuple[tuple[str, bytes], ...] = (
            ("platewatch.reason", rej.reason.encode()),
            ("platewatch.error", rej.detail.encode(errors="backslashreplace")[:1000]),
            ("platewatch.source.topic", record.topic.encode(errors="backslashreplace")),
            ("platewatch.source.partition", str(record.partition).encode()),
            ("platewatch.source.offset", str(record.offset).encode()),
        )
        if rej.exception:
            headers += (("platewatch.exception", rej.exception.encode(errors="backslashreplace")),)
            # where and what, never the message at this level: it may quote the read (its plate)
            log.warning(
                "record %s/%s@%s set aside as internal_error: %s",
                record.topic,
                record.partition,
                record.offset,
                rej.exception,
            )
            if exc is not None:
                log.debug("the record's exception", exc_info=exc)
        result.dead_letters.append(Outbound(self.topics.dlq, record.key, record.value or b"", headers))
