"""Settings: one frozen object, built once at start-up and passed down; nothing else reads the environment.

Precedence, highest first: a command-line flag, a `PLATEWATCH_*` environment variable, the config file
(`--config platewatch.toml` or `.yaml`, or `PLATEWATCH_CONFIG`), the default. Every bad value is
reported at once, in one `ConfigurationError`. Secrets are `SecretStr`: they never appear in a repr,
a log line, `/metrics` or an error message, and there is no flag for them (a flag shows up in `ps`):
give a password through `PLATEWATCH_SASL_PASSWORD`, the config file, or `--sasl-password-file`.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from streams.errors import ConfigurationError
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY

ENV_PREFIX = "PLATEWATCH_"
SECRET_FIELDS = frozenset({"sasl_password"})  # settable by environment or file only, never by a flag
MASKED_FIELDS = frozenset({"audit_db_url"})  # may carry a password: never echoed in an error

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
ProcessingGuarantee = Literal["exactly_once", "at_least_once"]


class Settings(BaseSettings):
    """Everything a Platewatch process can be told; see the README's Configuration table."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True)

    # Kafka connection (every client is built from these: streams.kafka.clients)
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    security_protocol: SecurityProtocol = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: SaslMechanism = Field("", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username: str = Field("", description="SASL user name")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (environment or config file only)")
    sasl_password_file: Path | None = Field(None, description="file holding the SASL password (mode 0600)")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certificates")
    ssl_certfile: Path | None = Field(None, description="client certificate (mutual TLS)")
    ssl_keyfile: Path | None = Field(None, description="client private key (mutual TLS)")
    credentials_dir: Path = Field(
        Path.home() / ".platewatch" / "credentials",
        description="where `acls apply` and `identities rotate` store generated passwords (files of mode 0600)",
    )
    broker_wait_seconds: float = Field(
        30.0, ge=0, description="how long a one-shot command retries an unreachable broker before exit 3"
    )
    # topics and groups
    topic_prefix: str = Field("", description="prefix every topic name (one cluster, many sites)")
    group_id: str = Field("platewatch-reads", min_length=1, description="the workers' consumer group of plate-reads")
    audit_group_id: str = Field("platewatch-audit", min_length=1, description="the audit sink's consumer group")
    ingest: Literal["per_agency", "single_topic"] = Field(
        "per_agency",
        description="per_agency: plate-reads.<ORI>, writable by that agency's gateway only; single_topic: one "
        "plate-reads topic whose reads name their own agency (insecure: development only)",
    )
    read_partitions: int = Field(6, ge=1, description="partitions of each input topic (topics create)")
    replication_factor: int = Field(1, ge=1, description="replication factor (topics create)")
    publish_transaction_timeout_ms: int = Field(
        900_000, ge=1000, description="a hotlist load's transaction: aborted by the broker if not committed in time"
    )
    # the hot path
    processing_guarantee: ProcessingGuarantee = Field(
        "exactly_once",
        description="exactly_once: a batch's outputs and offsets in one Kafka transaction; at_least_once: "
        "offsets committed after the outputs are acknowledged (a restart may re-send alerts, same ids)",
    )
    transaction_timeout_ms: int = Field(
        6000,
        ge=1000,
        description="exactly_once: the broker aborts a worker's open transaction after this, so a killed "
        "worker holds back read_committed readers no longer (the session timeout)",
    )
    session_timeout_ms: int = Field(
        6000,
        ge=1000,
        description="a silent worker loses its partitions after this (the broker's minimum: 6000)",
    )
    heartbeat_interval_ms: int = Field(
        500, ge=100, description="heartbeats to the group: how soon a worker hears of a rebalance"
    )
    group_instance_id: str = Field(
        "",
        description="static group membership: a worker restarted within the session keeps its partitions "
        "without a rebalance, but one that stops for good holds them until the session ends",
    )
    # exactly once pays one transaction a batch (about 5 ms): 20,000 read a batch at saturation, not
    # 5,000, gave 1.33x its reads/s (1M entries, 1M reads); a batch at a low rate is what has arrived
    batch_max_reads: int = Field(20_000, ge=1, description="most reads taken in one batch")
    batch_wait_ms: int = Field(
        5, ge=0, description="longest wait for a batch to fill (at least once; exactly once takes what has arrived)"
    )
    commit_interval_ms: int = Field(100, ge=0, description="how often acknowledged offsets are committed")
    breaker_max_errors: int = Field(
        20, ge=0, description="circuit breaker: pause after more than this many internal errors in 60 s ..."
    )
    breaker_max_error_ratio: float = Field(
        0.05, ge=0, lt=1, description="... that are also more than this share of the reads (0.05 = 5%)"
    )
    # policy
    policy_file: Path = Field(DEFAULT_POLICY, description="sharing policy (YAML)")
    registry_file: Path = Field(DEFAULT_REGISTRY, description="agency registry (YAML)")
    policy_check_seconds: float = Field(2.0, gt=0, description="how often to look for policy changes")
    # operations
    web_host: str = Field("127.0.0.1", description="address of /metrics, /healthz, /readyz")
    web_port: int = Field(6066, ge=0, le=65535, description="port of /metrics, /healthz, /readyz (0: any free)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG shows plates in logs; INFO never does"
    )
    config: Path | None = Field(None, description="config file (TOML or YAML) read below flags and environment")
    # the audit store (`platewatch audit ...`)
    audit_db_url: str = Field(
        "sqlite:///platewatch-audit.db",
        description="audit store: sqlite:///FILE, or postgresql+psycopg://USER@HOST:PORT/DB (give the password "
        "by ~/.pgpass or PGPASSWORD, never in the URL)",
        repr=False,  # a URL given with a password anyway stays out of reprs and logs
    )
    audit_retention_days: int = Field(
        2555, ge=365, description="days of audit records `audit prune` keeps (at least 365: FBI CJIS, NCIC data)"
    )
    audit_batch_rows: int = Field(
        5000, ge=1, le=100_000, description="most records the audit sink stores in one transaction"
    )
    # who queries retained ALPR data (tail-alerts --from-beginning, audit report): the access log's record
    access_user: str = Field("", description="the person querying retained data (recorded in the access log)")
    access_organization: str = Field("", description="their agency or organization (default: the agency queried)")
    access_purpose: str = Field("", description="why they query it, e.g. a case number (recorded in the access log)")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = []
        if self.group_id == self.audit_group_id:
            problems.append(
                f"group_id and audit_group_id are both {self.group_id!r}: the worker and the audit sink "
                "would join one consumer group and take each other's partitions; give them different ids"
            )
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            problems.append(f"security_protocol {self.security_protocol} needs sasl_username")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append("ssl_certfile and ssl_keyfile go together (mutual TLS)")
        if not self.audit_db_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            problems.append("audit_db_url must be sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def password(self) -> str:
        """The SASL password: from `sasl_password_file` when set, else `sasl_password`."""
        if self.sasl_password_file is not None:
            try:
                return self.sasl_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"sasl_password_file {self.sasl_password_file}: {exc.strerror}") from None
        return self.sasl_password.get_secret_value()

    def as_environment(self) -> dict[str, str]:
        """The settings that differ from the defaults as PLATEWATCH_* variables, for a child process."""
        env = {}
        for name in self.model_fields_set | {k for k, v in self.model_dump().items() if v != _DEFAULTS.get(k)}:
            value = getattr(self, name)
            if value is None:
                continue
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[ENV_PREFIX + name.upper()] = text
        env.pop(ENV_PREFIX + "CONFIG", None)  # its values are all in the variables above
        return env

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ConfigFileSource(settings_cls, init_settings, env_settings)


_DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The config file named by the `config` setting (flag or environment), below both."""

    def __init__(
        self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource, env: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self.path = init().get("config") or env().get("config")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole file

    def __call__(self) -> dict[str, Any]:
        return read_config_file(Path(self.path)) if self.path else {}


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML or YAML file of settings (keys as the setting names, e.g. `bootstrap_servers`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"config file {path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path}: expected a table of settings")
    section = data.get("platewatch", data)  # a [platewatch] table, or settings at the top level
    return {str(k).replace("-", "_"): v for k, v in section.items()}


def build_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from flags (`overrides`), the environment and the config file; every problem at once."""
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Every bad field with the value given, except secrets (their value is never shown)."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        hidden = name in SECRET_FIELDS | MASKED_FIELDS or not error["loc"]
        shown = "" if hidden else f" (got {error.get('input')!r})"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}{shown}")
    return f"invalid settings ({len(parts)}): " + "; ".join(parts)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag per setting (`--bootstrap-servers` for `bootstrap_servers`), except the secrets."""
    group = parser.add_argument_group("settings (flag, else $PLATEWATCH_<NAME>, else config file, else default)")
    for name, field in Settings.model_fields.items():
        if name in SECRET_FIELDS:  # refused with a pointer (and not taken as an abbreviation of another flag)
            group.add_argument("--" + name.replace("_", "-"), action=_RefuseSecretFlag, help=argparse.SUPPRESS)
            continue
        env = ENV_PREFIX + name.upper()
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            default=None,
            help=f"{field.description} [${env}]".replace("%", "%%"),  # argparse formats help with %
        )


class _RefuseSecretFlag(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        name = self.dest
        parser.error(
            f"{self.option_strings[0]} is not taken (a flag shows in `ps`): set {ENV_PREFIX}{name.upper()}, "
            f"put it in the config file, or use --{name.replace('_', '-')}-file"
        )


def settings_from(args: argparse.Namespace | None = None) -> Settings:
    """Settings from parsed flags (see `add_settings_arguments`), the environment and the config file."""
    overrides: dict[str, Any] = {}
    if args is not None:
        for name in Settings.model_fields:
            value = getattr(args, f"setting_{name}", None)
            if value is not None:
                overrides[name] = value
    return build_settings(overrides)
