"""The secured broker of the tests (`kafka.sh secure-up` on spare ports): where its CA, admin password
and bootstrap address are, and how to run its script."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

KAFKA_SH = Path(__file__).resolve().parent.parent.parent / "deploy" / "kafka" / "kafka.sh"


@dataclass
class SecureBroker:
    base: Path  # $PLATEWATCH_KAFKA_DIR/secure
    env: dict[str, str]
    port: int
    controller_port: int
    internal_port: int
    start_seconds: float
    start_output: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.base / "tls" / "ca.pem"

    @property
    def admin_password(self) -> str:
        return (self.base / "admin.password").read_text().strip()

    def script(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(KAFKA_SH), *args], env=self.env, input=stdin, capture_output=True, text=True, check=False, timeout=120
        )
        if check and done.returncode != 0:
            pytest.fail(f"kafka.sh {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def sasl(self, user: str, password: str) -> dict[str, Any]:
        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": self.ssl_context(),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def admin(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, **self.sasl("admin", self.admin_password)}


def spare_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
