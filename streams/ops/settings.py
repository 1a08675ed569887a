"""Worker settings: built once at start-up from CLI flags and PLATEWATCH_* variables, then passed down.

Precedence: a flag given on the command line, then the environment variable, then the default.
Nothing else in the code reads the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY

ENV_PREFIX = "PLATEWATCH_"


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = field(default="127.0.0.1:9092", metadata={"help": "Kafka bootstrap servers"})
    security_protocol: str = field(default="PLAINTEXT", metadata={"help": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"})
    sasl_mechanism: str = field(default="", metadata={"help": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"})
    sasl_username: str = field(default="", metadata={"help": "SASL user name"})
    sasl_password: str = field(default="", metadata={"help": "SASL password (prefer the environment variable)"})
    ssl_cafile: str = field(default="", metadata={"help": "CA bundle that signed the brokers' certificates"})
    ssl_certfile: str = field(default="", metadata={"help": "client certificate (mutual TLS)"})
    ssl_keyfile: str = field(default="", metadata={"help": "client private key (mutual TLS)"})
    topic_prefix: str = field(default="", metadata={"help": "prefix every topic name (one cluster, many sites)"})
    group_id: str = field(default="platewatch-reads", metadata={"help": "consumer group of plate-reads"})
    app_id: str = field(default="platewatch", metadata={"help": "faust application id"})
    batch_max_reads: int = field(default=5000, metadata={"help": "most reads taken in one batch"})
    batch_wait_ms: int = field(default=5, metadata={"help": "longest wait for a batch to fill"})
    commit_interval_ms: int = field(
        default=100, metadata={"help": "how often acknowledged offsets are committed (at least once)"}
    )
    web_host: str = field(default="127.0.0.1", metadata={"help": "address of /metrics, /healthz, /readyz"})
    web_port: int = field(default=6066, metadata={"help": "port of /metrics, /healthz, /readyz"})
    policy_file: Path = field(default=DEFAULT_POLICY, metadata={"help": "sharing policy (YAML)"})
    registry_file: Path = field(default=DEFAULT_REGISTRY, metadata={"help": "agency registry (YAML)"})
    policy_check_seconds: float = field(default=2.0, metadata={"help": "how often to look for policy changes"})
    read_partitions: int = field(default=6, metadata={"help": "plate-reads partitions (topics create)"})
    replication_factor: int = field(default=1, metadata={"help": "replication factor (topics create)"})
    log_level: str = field(default="INFO", metadata={"help": "DEBUG shows plates in logs; INFO never does"})

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options for every aiokafka client (consumer, producer, admin)."""
        opts: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in {"SSL", "SASL_SSL"}:
            from aiokafka.helpers import create_ssl_context  # noqa: PLC0415 (only with TLS)

            opts["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile or None,
                certfile=self.ssl_certfile or None,
                keyfile=self.ssl_keyfile or None,
            )
        if self.security_protocol.startswith("SASL"):
            opts["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = self.sasl_password
        return opts


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        parser.add_argument(flag, dest=f"setting_{f.name}", default=None, help=f"{f.metadata['help']} [${env}]")


def settings_from(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = getattr(args, f"setting_{f.name}", None) if args is not None else None
        if raw is None:
            raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        values[f.name] = _convert(f.name, f.default, raw)
    return Settings(**values)


def _convert(name: str, default: object, raw: str) -> object:
    try:
        if isinstance(default, bool):
            return raw.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
    except ValueError:
        raise SystemExit(f"setting {name}: {raw!r} is not a valid {type(default).__name__}") from None
    return raw
