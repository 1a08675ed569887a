"""Peer: a faust-streaming agent that batches with `stream.take(N, within=...)`, as faust's documentation
shows, doing the same exact lookup as the other peers and producing the alerts.

    python -m benchmarks.peers.faust_take --bootstrap HOST:PORT --topic T --reads N --group G \\
        --hotlist FILE --alerts-topic A [--take 5000] [--within 0.005]

The app (id = the consumer group) is built with `KafkaClients.faust_app_options()`, so PLATEWATCH_*
security settings reach it; everything else is faust's default (acks=all; faust's producer has no
idempotence outside its exactly-once mode). Batches are the worker's: up to 5,000 reads, 5 ms wait.

An alert sent from an agent is attached to the read being processed and published when that read's
offset is committed (faust's documented at-least-once behaviour; it commits every 2.8 s and when it
stops). The last alerts are therefore delivered by a commit: once the last read is processed, the peer
commits as faust would on its next tick, and the window closes when every alert is acknowledged.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

import faust
import orjson

from benchmarks.client_choice import BATCH, WAIT_MS
from benchmarks.peers.common import Window, alert, emit, listed_plate, load_hotlist, peer_arguments
from streams.kafka.clients import KafkaClients
from streams.ops.settings import build_settings


async def run(bootstrap: str, topic: str, expect: int, group: str, hotlist_file: str, alerts_topic: str,
              take: int, within: float) -> dict[str, Any]:  # fmt: skip
    hotlist = load_hotlist(hotlist_file)
    clients = KafkaClients(build_settings({"bootstrap_servers": bootstrap}))
    with tempfile.TemporaryDirectory(prefix="faust-take-") as datadir:
        app = faust.App(
            group,
            **clients.faust_app_options(),
            store="memory://",
            web_enabled=False,
            datadir=datadir,
            topic_replication_factor=1,
            consumer_auto_offset_reset="earliest",
        )
        reads = app.topic(topic, value_type=bytes, value_serializer="raw")
        alerts = app.topic(alerts_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw")  # fmt: skip
        window, done = Window(), asyncio.Event()
        sent: list[Any] = []  # one awaitable per alert: its acknowledgement
        counts = {"reads": 0, "hits": 0}
        loads, dumps = orjson.loads, orjson.dumps

        @app.agent(reads)
        async def match(stream: Any) -> None:
            async for values in stream.take(take, within=within):
                window.start(len(values))
                for value in values:
                    try:
                        read = loads(value)
                        plate = listed_plate(read["plate"], hotlist)
                    except (orjson.JSONDecodeError, TypeError, KeyError):
                        continue  # not a plate read: no hit
                    if plate is not None:
                        sent.append(await alerts.send(key=plate.encode(), value=dumps(alert(read, plate))))
                counts["reads"] += len(values)
                window.progressed()
                if counts["reads"] >= expect and not done.is_set():
                    window.processed()
                    done.set()

        await app.start()
        try:
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), 1.0)
                except TimeoutError:
                    window.check_stall(counts["reads"], expect)
            # what faust's next commit tick (or its stop) does: publish the alerts attached to the
            # acknowledged reads and wait for them
            for _ in range(60_000):
                if all(f.done() for f in sent):
                    break
                await app.consumer.commit()
                await asyncio.sleep(0.001)
            results = await asyncio.wait_for(asyncio.gather(*sent, return_exceptions=True), 60)
            window.delivered()
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise RuntimeError(f"{len(failed)} alerts failed: {failed[0]!r}")
            figures = window.figures(counts["reads"])
        finally:
            await app.stop()
    return {
        **figures,
        "hits": len(sent),
        "alerts_acked": len(results) - len(failed),
        "take": take,
        "within_s": within,
        "faust": faust.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = peer_arguments(__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--take", type=int, default=BATCH, help="most reads a batch")
    parser.add_argument("--within", type=float, default=WAIT_MS / 1000, help="longest wait for a batch, seconds")
    a = parser.parse_args(argv)
    figures = asyncio.run(run(a.bootstrap, a.topic, a.reads, a.group, a.hotlist, a.alerts_topic, a.take, a.within))
    emit("faust-take", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
