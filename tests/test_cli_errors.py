"""The CLI as a user meets it: one line and a documented exit code for every failure, a traceback only
with --debug, Kafka retried for the configured time, and light commands that never import Kafka."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
CSV = "PlateNumber,PlateState\n7ABC123,CA\n"


def platewatch(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def one_shot_commands(tmp_path: Path) -> dict[str, list[str]]:
    hotlist = tmp_path / "list.csv"
    hotlist.write_text(CSV)
    return {
        "topics create": ["topics", "create"],
        "simulate": ["simulate", "--seconds", "1"],
        "hotlist load": ["hotlist", "load", str(hotlist), "--list", "t", "--publish"],
        "tail-alerts": ["tail-alerts", "--recipient", "CA0194200", "--seconds", "1"],
        "acls plan": ["acls", "plan"],
    }


def assert_one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["topics create", "simulate", "hotlist load", "tail-alerts", "acls plan"])
def test_an_unreachable_broker_is_one_line_and_exit_3_within_the_retry_time(tmp_path: Path, command: str) -> None:
    args = one_shot_commands(tmp_path)[command]
    started = time.monotonic()
    result = platewatch(*args, "--bootstrap-servers", "127.0.0.1:1", "--broker-wait-seconds", "2")
    elapsed = time.monotonic() - started
    line = assert_one_line(result, 3)
    assert "127.0.0.1:1 unreachable for 2s" in line and "make kafka-up" in line
    assert elapsed < 2 + 6  # the retry time, plus interpreter start and shutdown
    assert "Unclosed" not in result.stderr


@pytest.mark.kafka
@pytest.mark.parametrize("command", ["topics create", "simulate", "hotlist load", "tail-alerts", "acls plan"])
def test_tls_settings_reach_the_clients_of_every_command(kafka_bootstrap: str, tmp_path: Path, command: str) -> None:
    """TLS against the plaintext broker must fail: had the setting not reached a client, it would connect."""
    args = one_shot_commands(tmp_path)[command]
    env = {"PLATEWATCH_SECURITY_PROTOCOL": "SSL", "PLATEWATCH_BROKER_WAIT_SECONDS": "2"}
    line = assert_one_line(platewatch(*args, "--bootstrap-servers", kafka_bootstrap, env=env), 3)
    assert f"Kafka at {kafka_bootstrap}" in line


@pytest.mark.kafka
def test_the_same_command_works_without_tls(kafka_bootstrap: str, unique: str) -> None:
    result = platewatch("topics", "create", "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", f"cli-{unique}.")
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


@pytest.mark.kafka
def test_tls_settings_reach_the_benchmark_clients(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "PLATEWATCH_SECURITY_PROTOCOL": "SSL", "PLATEWATCH_BROKER_WAIT_SECONDS": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.dispatch_consumer", "--bootstrap", kafka_bootstrap,
         "--alerts-prefix", "nothing.", "--seconds", "1", "--receipts", str(tmp_path / "receipts")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "BrokerUnavailableError" in result.stderr and "ready" not in result.stdout


def test_a_bad_setting_names_every_bad_field_and_exits_2() -> None:
    line = assert_one_line(platewatch("topics", "create", "--web-port", "x", "--batch-max-reads", "-1"), 2)
    assert "web_port" in line and "batch_max_reads" in line


def test_a_refused_policy_exits_4_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("jurisdictions: [1, 2\n")
    line = assert_one_line(platewatch("topics", "create", "--policy-file", str(bad)), 4)
    assert str(bad) in line and "line" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("jurisdictions: [1, 2\n")
    result = platewatch("topics", "create", "--policy-file", str(bad), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_light_commands_import_no_kafka_client() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from streams.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['policy', 'check', 'streams/data/policy.yaml'])\n"
        "heavy = sorted(m for m in ('aiokafka', 'faust', 'aiohttp', 'numpy', 'pyroaring') if m in sys.modules)\n"
        "print(__import__('json').dumps({'code': code, 'heavy': heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the parser, e.g. ("acls", "plan")."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(command_paths(sub, (*prefix, name)))
    return paths


def test_every_command_has_working_help(capsys: pytest.CaptureFixture[str]) -> None:
    paths = command_paths(build_parser())
    assert ("worker",) in paths and ("acls", "plan") in paths and len(paths) >= 20
    for path in paths:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([*path, "--help"])
        assert done.value.code == 0, path
        assert "usage: platewatch" in capsys.readouterr().out
