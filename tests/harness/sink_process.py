"""`platewatch audit sink` as a child process for tests: started, awaited until ready, killed or stopped."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.harness.worker_process import WorkerProcess


class SinkProcess(WorkerProcess):
    """The audit sink in a child process, with the worker harness's controls (ready, SIGKILL, metrics)."""

    def __init__(self, bootstrap: str, prefix: str, db_url: str, log_path: Path, *extra: str) -> None:
        super().__init__(bootstrap, prefix, log_path)
        self.args = [
            sys.executable, "-m", "streams", "audit", "sink",
            "--bootstrap-servers", bootstrap,
            "--topic-prefix", prefix,
            "--group-id", f"{prefix}reads",
            "--audit-group-id", f"{prefix}audit",
            "--audit-db-url", db_url,
            "--web-port", str(self.port),
            *extra,
        ]  # fmt: skip
