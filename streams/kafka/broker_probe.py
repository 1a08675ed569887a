"""Is Kafka still answering? A consuming worker asks every few seconds, for /readyz.

An empty fetch looks the same whether the topics are quiet or Kafka is gone; this tells them apart
(the clients reconnect by themselves when it comes back). The probe has its own admin connection and
asks for no topic metadata: probing through the consumer's own client (a full metadata request) held
its fetches back for tens of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError

from streams.errors import PlatewatchError
from streams.kafka.clients import KafkaClients

log = logging.getLogger(__name__)

BROKER_PROBE_S = 3.0  # how often a consuming worker checks that Kafka still answers


class BrokerProbe:
    def __init__(self, clients: KafkaClients) -> None:
        self.clients = clients
        self.lost: str | None = None  # why Kafka is not answering; None while it answers

    async def run(self) -> None:
        """Probe until cancelled."""
        bootstrap = self.clients.settings.bootstrap_servers
        admin = None
        try:
            while True:
                await asyncio.sleep(BROKER_PROBE_S)
                try:
                    if admin is None:
                        admin = await self.clients.start(self.clients.admin(), wait_s=0)
                    await asyncio.wait_for(admin.describe_cluster(), BROKER_PROBE_S)
                except (KafkaError, PlatewatchError, TimeoutError, OSError) as exc:
                    if self.lost is None:
                        log.warning("Kafka at %s stopped answering (%s)", bootstrap, type(exc).__name__)
                    self.lost = f"Kafka at {bootstrap} unreachable ({type(exc).__name__})"
                    continue
                if self.lost is not None:
                    log.info("Kafka at %s answers again", bootstrap)
                self.lost = None
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    await admin.close()
