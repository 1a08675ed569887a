"""Peer: a Quix Streams application, written as Quix's documentation shows (Application, topic,
StreamingDataFrame filter/apply, to_topic). It runs in its own virtualenv (setup_venvs.sh: Quix pins
confluent-kafka below 2.13, which the project's .venv cannot share):

    .venv-peers/quix/bin/python -m benchmarks.peers.quix_app --bootstrap HOST:PORT --topic T --reads N \\
        --group G --hotlist FILE --alerts-topic A

The work is the other peers': each read (JSON, parsed by Quix with orjson) is kept when its plate,
normalised by the project's normaliser, is in a Python set of the hotlist's plates, and becomes one
alert on the alerts topic. Quix's defaults stand (at-least-once, commits every 5 s, one message at a
time), except: the input read from the earliest offset, a fresh consumer group, warnings-only
logging, a temporary state folder, and an idempotent producer (acks=all is librdkafka's default) so
its alerts are produced as every other peer's.

Connection settings: `bootstrap.servers` from --bootstrap, or the whole librdkafka configuration that
run.py builds with `KafkaClients.librdkafka_config()` and passes in PEER_LIBRDKAFKA_CONFIG (JSON), so
PLATEWATCH_* security settings reach Quix's clients too.

The timing window is common.py's: it starts at the first message processed (`on_message_processed`),
the last read is processed at the N-th, and the last alert is delivered when the flush of the final
checkpoint returns (the application's producer's `flush`, wrapped to note the time).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from quixstreams import Application  # type: ignore[import-not-found, unused-ignore]
from quixstreams.kafka.configuration import ConnectionConfig  # type: ignore[import-not-found, unused-ignore]

from benchmarks.peers.common import (
    QUIX_CONFIG_ENV,
    STALL_S,
    Window,
    alert,
    emit,
    listed_plate,
    load_hotlist,
    peer_arguments,
)

PRODUCER: dict[str, Any] = {"enable.idempotence": True}


def run(bootstrap: str, topic: str, expect: int, group: str, hotlist_file: str, alerts_topic: str) -> dict[str, Any]:
    hotlist = load_hotlist(hotlist_file)
    connection = json.loads(os.environ.get(QUIX_CONFIG_ENV) or "{}") or {"bootstrap.servers": bootstrap}
    window = Window()
    counts = {"reads": 0, "hits": 0}
    acked: dict[str, int] = {}

    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:

        def processed(_topic: str, _partition: int, _offset: int) -> None:
            counts["reads"] += 1
            if counts["reads"] == 1:
                window.start(1)
            if counts["reads"] == expect:
                window.processed()
                app.stop()

        app = Application(
            broker_address=ConnectionConfig.from_librdkafka_dict(connection),
            consumer_group=group,
            auto_offset_reset="earliest",
            producer_extra_config=PRODUCER,
            state_dir=state_dir,
            loglevel="WARNING",
            on_message_processed=processed,
        )
        producer = app._producer  # what the checkpoint flushes: its last flush delivers the last alert
        flush = producer.flush

        def timed_flush(*args: Any, **kwargs: Any) -> int:
            left: int = flush(*args, **kwargs)
            if window.t_processed is not None and window.t_delivered is None and left == 0:
                window.delivered()
                acked.update({f"{t}/{p}": o + 1 for (t, p), o in producer.offsets.items() if t == alerts_topic})
            return left

        producer.flush = timed_flush

        def hotlisted(read: dict[str, Any]) -> bool:
            return listed_plate(read.get("plate"), hotlist) is not None

        def to_alert(read: dict[str, Any]) -> dict[str, Any]:
            plate = listed_plate(read.get("plate"), hotlist)
            assert plate is not None
            counts["hits"] += 1
            return alert(read, plate)

        reads = app.topic(topic, value_deserializer="json")
        alerts = app.topic(alerts_topic, key_serializer="str", value_serializer="json")
        sdf = app.dataframe(reads)
        sdf = sdf.filter(hotlisted)
        sdf = sdf.apply(to_alert)
        sdf.to_topic(alerts, key=lambda a: a["plate"])
        # stops itself at the N-th read (above); the timeout only ends a run that stalls
        app.run(timeout=STALL_S, collect=False)

    if counts["reads"] < expect:
        raise TimeoutError(f"no progress for {STALL_S:g}s at {counts['reads']:,} of {expect:,} reads")
    delivered_at_exit = window.t_delivered is None  # no final flush seen: the end of `run` closes the window
    if delivered_at_exit:
        window.delivered()
    return {
        **window.figures(counts["reads"]),
        "delivered_at_exit": delivered_at_exit,
        "hits": counts["hits"],
        "alerts_acked": sum(acked.values()),
        "producer": PRODUCER,
        "quixstreams": _version(),
    }


def _version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("quixstreams")


def main(argv: list[str] | None = None) -> int:
    args = peer_arguments(__doc__.split("\n")[0] if __doc__ else None).parse_args(argv)
    emit("quix", run(args.bootstrap, args.topic, args.reads, args.group, args.hotlist, args.alerts_topic))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
