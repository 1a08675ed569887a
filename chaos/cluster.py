"""The three-node KRaft cluster of `deploy/kafka/kafka.sh`, with the faults the scenarios inject."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from streams.kafka.clients import KafkaClients

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
PORTS = (29092, 29093, 29094)
BOOTSTRAP = ",".join(f"127.0.0.1:{p}" for p in PORTS)


class Cluster:
    def __init__(self, base_dir: Path) -> None:
        self.base = base_dir
        self.env = {**os.environ, "PLATEWATCH_KAFKA_DIR": str(base_dir)}

    def _sh(self, *args: str) -> None:
        done = subprocess.run([str(KAFKA_SH), *args], env=self.env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{done.stderr[-4000:]}")

    def up(self) -> None:
        """Start every node that is not running (all of them, or the ones a scenario stopped)."""
        self._sh("cluster-up")

    def down(self) -> None:
        self._sh("cluster-down")

    def pid(self, node: int) -> int | None:
        f = self.base / "cluster" / f"node{node}" / "pid"
        try:
            pid = int(f.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def kill(self, node: int, sig: signal.Signals = signal.SIGKILL) -> None:
        pid = self.pid(node)
        if pid is None:
            raise RuntimeError(f"node {node} is not running")
        os.kill(pid, sig)
        _wait_exit(pid, 60)

    def stop_all(self) -> None:
        """SIGTERM to every node at once (a lone survivor of three voters cannot shut down cleanly)."""
        pids = [p for p in (self.pid(n) for n in (1, 2, 3)) if p is not None]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            _wait_exit(pid, 60)

    @staticmethod
    def leader_of_most(clients: KafkaClients, topics: list[str]) -> tuple[int, int]:
        """The node leading the most partitions of `topics`, and how many it leads."""
        metadata = clients.rdkafka_admin().list_topics(timeout=10)
        leaders: Counter[int] = Counter()
        for t in topics:
            for p in metadata.topics[t].partitions.values():
                leaders[p.leader] += 1
        node, count = leaders.most_common(1)[0]
        return node, count


def _wait_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
