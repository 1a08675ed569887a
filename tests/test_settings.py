"""Settings: flags over PLATEWATCH_* variables over defaults; security options reach the clients."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pytest

from streams.ops.settings import Settings, add_settings_arguments, settings_from


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return parser.parse_args(list(argv))


def test_flag_beats_environment_beats_default() -> None:
    env = {"PLATEWATCH_BOOTSTRAP_SERVERS": "env:9092", "PLATEWATCH_BATCH_MAX_READS": "250"}
    s = settings_from(parse("--bootstrap-servers", "flag:9092"), env)
    assert s.bootstrap_servers == "flag:9092"
    assert s.batch_max_reads == 250
    assert s.web_port == Settings().web_port
    assert settings_from(parse("--policy-file", "/etc/pw/policy.yaml"), {}).policy_file == Path("/etc/pw/policy.yaml")


def test_a_bad_number_is_refused_with_the_setting_named() -> None:
    with pytest.raises(SystemExit, match="batch_max_reads"):
        settings_from(parse(), {"PLATEWATCH_BATCH_MAX_READS": "lots"})


def test_sasl_and_tls_options_reach_the_kafka_clients() -> None:
    s = settings_from(
        parse("--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "pw"),
        {"PLATEWATCH_SASL_PASSWORD": "secret"},
    )
    opts = s.kafka_client_options()
    assert opts["security_protocol"] == "SASL_SSL"
    assert (opts["sasl_mechanism"], opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "pw", "secret",
    )  # fmt: skip
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    assert "ssl_context" not in Settings().kafka_client_options()
