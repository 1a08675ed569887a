"""The audit sink benchmark's smoke run: both databases measured, the JSON written, every row stored once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks import audit_sink_bench


@pytest.mark.postgres
def test_smoke_run_measures_both_databases(postgres_url: str, tmp_path: Path) -> None:
    out = tmp_path / "audit_sink.json"
    assert audit_sink_bench.main(["--smoke", "--postgres-url", postgres_url, "--output", str(out)]) == 0
    doc = orjson.loads(out.read_bytes())
    assert doc["command"].endswith("--smoke") and doc["rows_per_run"] == 2_000
    assert set(doc["results"]) == {"sqlite", "postgresql"}
    for name, result in doc["results"].items():
        assert result["dialect"] == name
        assert result["rows_in_store_at_end"] == 2 * doc["rows_per_run"] * doc["runs"]
        for kind in ("insert", "sink", "replay"):
            assert result[f"{kind}_rows_per_s"] > 0, (name, kind)
    assert isinstance(doc["meets_target"], bool)
