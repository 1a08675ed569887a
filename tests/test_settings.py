"""Settings: flags over PLATEWATCH_* variables over the config file over defaults; every bad field at
once; secrets in no repr, error or flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from streams.errors import ConfigurationError
from streams.ops.settings import Settings, add_settings_arguments, build_settings, settings_from

SECRET = "s3cr3t-Pa55w0rd"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return parser.parse_args(list(argv))


def test_flag_beats_environment_beats_config_file_beats_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "platewatch.toml"
    config.write_text(
        '[platewatch]\nbootstrap_servers = "file:9092"\nbatch_max_reads = 100\ntopic_prefix = "site-a."\n'
        "batch_wait_ms = 7\n"
    )
    monkeypatch.setenv("PLATEWATCH_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("PLATEWATCH_BATCH_MAX_READS", "250")
    s = settings_from(parse("--bootstrap-servers", "flag:9092", "--config", str(config), "--batch-wait-ms", "9"))
    assert s.bootstrap_servers == "flag:9092"  # flag over environment and file
    assert s.batch_max_reads == 250  # environment over file
    assert s.topic_prefix == "site-a."  # file over default
    assert s.batch_wait_ms == 9
    assert s.web_port == Settings().web_port  # default
    assert settings_from(parse("--policy-file", "/etc/pw/policy.yaml")).policy_file == Path("/etc/pw/policy.yaml")


def test_a_yaml_config_file_named_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "platewatch.yaml"
    config.write_text("group_id: site-b-reads\nsecurity_protocol: SASL_SSL\nsasl_username: worker\n")
    monkeypatch.setenv("PLATEWATCH_CONFIG", str(config))
    s = build_settings()
    assert (s.group_id, s.security_protocol, s.sasl_username) == ("site-b-reads", "SASL_SSL", "worker")


def test_every_bad_field_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEWATCH_BATCH_MAX_READS", "lots")
    with pytest.raises(ConfigurationError) as caught:
        settings_from(parse("--web-port", "99999", "--security-protocol", "SASL_TLS"))
    message = str(caught.value)
    for field in ("batch_max_reads", "web_port", "security_protocol"):
        assert field in message
    assert "'lots'" in message  # the bad value, so the operator sees what was read
    assert "invalid settings (3)" in message


def test_colliding_consumer_groups_are_refused_naming_both() -> None:
    with pytest.raises(ConfigurationError, match=r"group_id and audit_group_id are both 'pw'"):
        build_settings({"group_id": "pw", "audit_group_id": "pw"})


def test_an_unknown_setting_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('bootstrap_server = "typo:9092"\n')
    with pytest.raises(ConfigurationError, match="bootstrap_server"):
        build_settings({"config": str(config)})


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLATEWATCH_SASL_PASSWORD", SECRET)
    s = build_settings({"security_protocol": "SASL_SSL", "sasl_username": "pw"})
    assert s.password() == SECRET
    assert SECRET not in repr(s) and SECRET not in str(s) and SECRET not in str(s.model_dump())
    # a bad setting beside it: the error names the others, never the secret
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"security_protocol": "SASL_SSL", "sasl_username": "pw", "web_port": "x"})
    assert SECRET not in str(caught.value)
    # an invalid secret is named, its value is not shown
    monkeypatch.setenv("PLATEWATCH_SASL_PASSWORD", "")
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"sasl_password": ["not", SECRET]})
    assert "sasl_password" in str(caught.value) and SECRET not in str(caught.value)
    # no flag takes a password: it would show in `ps`
    with pytest.raises(SystemExit):
        parse("--sasl-password", SECRET)


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "worker.password"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    s = build_settings({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "w", "sasl_password_file": secret_file})
    assert s.password() == SECRET
    missing = build_settings({"sasl_password_file": tmp_path / "nope"})
    with pytest.raises(ConfigurationError, match="sasl_password_file") as caught:
        missing.password()
    assert SECRET not in str(caught.value)


def test_a_child_process_gets_the_same_settings_through_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = build_settings({"topic_prefix": "t.", "security_protocol": "SASL_SSL", "sasl_username": "u"})
    env = s.as_environment()
    assert env["PLATEWATCH_TOPIC_PREFIX"] == "t." and env["PLATEWATCH_SECURITY_PROTOCOL"] == "SASL_SSL"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert build_settings() == s


def test_a_database_url_with_a_password_stays_out_of_the_repr() -> None:
    s = build_settings({"audit_db_url": f"postgresql+psycopg://sink:{SECRET}@db:5432/audit"})
    assert SECRET not in repr(s) and SECRET not in str(s)
