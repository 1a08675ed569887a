"""`platewatch worker` as a child process of the Kafka demo: started, awaited until ready, stopped.

The demo shows a real worker process, not the pipeline in-process; tests and benchmarks extend this
with the controls only they need (SIGKILL, metric reads, topic helpers) in `tests/harness`.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class WorkerNotReadyError(RuntimeError):
    """The child worker exited or did not become ready in time; the message carries its log's tail."""


class WorkerChild:
    """`platewatch worker` in a child process, with its log kept for the failure message."""

    def __init__(self, bootstrap: str, prefix: str, log_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.args = [
            sys.executable, "-m", "streams", "worker",
            "--bootstrap-servers", bootstrap,
            "--topic-prefix", prefix,
            "--group-id", f"{prefix}reads",
            "--web-port", str(self.port),
            *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> WorkerChild:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise WorkerNotReadyError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.25)
        raise WorkerNotReadyError(f"worker not ready in {timeout}s:\n{self.log()}")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then wait; a worker that ignores it is killed and WorkerNotReadyError raised."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise WorkerNotReadyError(f"worker ignored SIGTERM for {timeout}s:\n{self.log()}") from None
        return self.proc.returncode
