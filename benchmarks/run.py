"""`make bench`: micro benchmarks, the load benchmark on the broker, outputs, baseline comparison.

    python -m benchmarks.run [--smoke] [--out DIR] [--baseline FILE] [--save-baseline]
                             [--secure-broker | --secure-env FILE]

Writes DIR/result.json, DIR/summary.md (the targets, met or missed, and the side-by-side table of
Platewatch and its peers on one topic), DIR/latency.png and DIR/throughput.png, and compares the run's
same-run ratios with the committed baseline (benchmarks/baseline.json): it exits 1, naming them, when
any ratio fell more than 15% below it, and when any system's output was wrong. --smoke runs everything
at small sizes in a few minutes and checks outputs, and that the ratios are computed.

--secure-env FILE (what `kafka.sh secure-up` writes: the PLATEWATCH_* settings of its admin) adds the
SASL_SSL rows: the same sizes, on that broker, through the at-least-once worker and then the exactly-once
one, as on the plaintext broker (a child run with --worker-only in that environment, after a warm-up
pass of the same at no more than 1M entries), their outputs checked like the others. --secure-broker (what
`make bench` passes) starts that broker for the row, after the plaintext rows, and stops it;
--plaintext-down (`make bench` too) first stops kafka.sh's plaintext broker, whose rows are done by
then, so the row runs with one broker on the machine, like the others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import micro
from benchmarks.load import LoadParams, profile_pipeline, run_load
from benchmarks.report import TOLERANCE, compare, markdown, plot_latency, plot_systems, plot_throughput
from benchmarks.timing import machine

HERE = Path(__file__).resolve().parent
DEFAULT_BASELINE = HERE / "baseline.json"
KAFKA_SH = HERE.parent / "deploy" / "kafka" / "kafka.sh"
# what `kafka.sh secure-up` writes: the PLATEWATCH_* settings of the secured broker's admin
SECURE_ENV = (
    Path(os.environ.get("PLATEWATCH_KAFKA_DIR") or Path(os.environ.get("TMPDIR") or "/tmp") / "platewatch-kafka")
    / "secure"
    / "admin.env"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="small sizes: checks the benchmark path works")
    p.add_argument("--out", type=Path, default=HERE / "results" / "latest")
    p.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    p.add_argument("--save-baseline", action="store_true", help="write this result as the new baseline")
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--entries", type=int, help="hotlist entries (default 10M; smoke 20k)")
    p.add_argument("--reads", type=int, help="reads for the saturation phase (default 1M; smoke 20k)")
    p.add_argument("--rate", type=int, default=5000, help="reads/s offered in the latency phase")
    p.add_argument("--seconds", type=float, help="length of the latency phase (default 30; smoke 3)")
    p.add_argument("--no-load", action="store_true", help="core benchmarks only (no broker)")
    p.add_argument("--peers", help="comma-separated peers (benchmarks/peers/run.py; default: all)")
    p.add_argument("--peer-rounds", type=int, help="interleaved rounds of the peers (default 3; smoke 1)")
    p.add_argument("--secure-env", type=Path, help="settings of a SASL_SSL broker: adds the SASL_SSL row")
    p.add_argument("--secure-broker", action="store_true",
                   help="start the secured broker (kafka.sh secure-up) for the SASL_SSL row, after the other "
                        "rows, and stop it after")  # fmt: skip
    p.add_argument(
        "--plaintext-down",
        action="store_true",
        help="stop kafka.sh's plaintext broker (its data kept) before the SASL_SSL row: its rows are done",
    )
    p.add_argument(
        "--worker-only", action="store_true", help="the workers' saturation alone (at least once, then exactly once)"
    )
    a = p.parse_args(argv)
    entries = a.entries or (20_000 if a.smoke else 10_000_000)
    reads = a.reads or (20_000 if a.smoke else 1_000_000)  # shorter windows flatter the fast systems
    seconds = a.seconds or (3.0 if a.smoke else 30.0)
    rate = 500 if a.smoke and a.rate == 5000 else a.rate
    a.out.mkdir(parents=True, exist_ok=True)
    if a.worker_only:
        return worker_row(a, entries, reads)
    started = time.time()
    result: dict[str, Any] = {"machine": machine(), "started": started, "smoke": a.smoke}
    print("== core micro benchmarks")
    result["micro"] = micro.run(
        entries=20_000 if a.smoke else 1_000_000,
        batch=2_000 if a.smoke else 10_000,
        runs=3 if a.smoke else 15,
    )
    if not a.no_load:
        print(
            f"== load benchmark on {a.bootstrap}: {entries:,} entries, {reads:,} reads, {rate:,}/s for {seconds:.0f}s"
        )
        params = LoadParams(a.bootstrap, entries, reads, rate, seconds, hit_rate=0.01, peers=a.peers,
                            peer_rounds=a.peer_rounds or (1 if a.smoke else 3), smoke=a.smoke)  # fmt: skip
        result["load"] = asyncio.run(run_load(params, str(a.out)))
        if a.secure_env or a.secure_broker:
            result["load"]["sasl_ssl"] = sasl_ssl_row(a, entries, reads, result["load"])
        plot_latency(result["load"], a.out / "latency.png")
        plot_throughput(result["load"], a.out / "throughput.png")
        plot_systems(result["load"], a.out / "systems.png")
    result["profile"] = profile_pipeline(20_000 if a.smoke else 1_000_000, 2_000 if a.smoke else 10_000)
    result["seconds"] = time.time() - started
    comparison: list[dict[str, Any]] = []
    if a.baseline.exists() and not a.save_baseline:
        comparison = compare(result, orjson.loads(a.baseline.read_bytes()))
        result["comparison"] = comparison
    (a.out / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    summary = markdown(result, comparison)
    (a.out / "summary.md").write_text(summary)
    print("\n" + summary.split("## Core", 1)[0].split("\n", 3)[-1])  # the targets and the side-by-side table
    if a.save_baseline:
        a.baseline.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(f"baseline written: {a.baseline}")
    print(
        f"\nresults: {a.out}/result.json, summary.md"
        + (", systems.png, latency.png, throughput.png" if not a.no_load else "")
    )
    problems = result.get("load", {}).get("problems", [])
    for problem in problems:
        print(f"OUTPUT WRONG: {problem}", file=sys.stderr)
    return judge(comparison, smoke=a.smoke) or (1 if problems else 0)


def worker_row(a: argparse.Namespace, entries: int, reads: int) -> int:
    params = LoadParams(a.bootstrap, entries, reads, a.rate, 0, hit_rate=0.01, smoke=a.smoke, worker_only=True)
    load = asyncio.run(run_load(params, str(a.out)))
    (a.out / "result.json").write_bytes(orjson.dumps(load, option=orjson.OPT_INDENT_2))
    return 1 if load["problems"] else 0


def sasl_ssl_row(a: argparse.Namespace, entries: int, reads: int, plain: dict[str, Any]) -> dict[str, Any]:
    """The workers over SASL_SSL, at least once then exactly once: a child run in the secure broker's environment. Any
    failure is the row's error and one of the run's problems (the run exits 1), never a lost run."""
    # started only now (no idle broker beside the plaintext rows), and stopped only if this run started
    # it: `secure-down` also removes a broker's data
    start = a.secure_broker and subprocess.run([str(KAFKA_SH), "secure-status"], capture_output=True,
                                                check=False).returncode != 0  # fmt: skip
    stopped = None
    if a.plaintext_down:  # one broker on the machine at a time, as for the plaintext rows; its data is
        # kept (whoever started it removes it, as `make bench` does at the end)
        stopped = subprocess.run([str(KAFKA_SH), "down"], check=False, stdout=subprocess.DEVNULL,
                                 env={**os.environ, "KAFKA_KEEP_DATA": "1"}).returncode == 0  # fmt: skip
    try:
        try:
            if start:
                subprocess.run([str(KAFKA_SH), "secure-up"], check=True, stdout=subprocess.DEVNULL)
            row = _sasl_ssl_child(a, entries, reads)
        finally:  # also on KeyboardInterrupt
            if start:
                subprocess.run([str(KAFKA_SH), "secure-down"], check=False, stdout=subprocess.DEVNULL)
    except Exception as exc:
        row = {"error": f"{type(exc).__name__}: {exc}"}
    if "error" in row:
        plain["problems"].append(f"SASL_SSL row: {row['error']}")
        plain["outputs_verified"] = False
        return row
    row["plaintext_broker_stopped"] = stopped  # None: not asked to (--plaintext-down)
    eos = row["exactly_once"]["pipeline_saturation"]["reads_per_s"]
    row["over_at_least_once"] = eos / plain["pipeline_saturation"]["reads_per_s"]  # the target's ratio
    alo = row["at_least_once"]["pipeline_saturation"]["reads_per_s"]
    row["at_least_once_over_plaintext"] = alo / plain["pipeline_saturation"]["reads_per_s"]
    row["over_exactly_once_plaintext"] = eos / plain["exactly_once"]["pipeline_saturation"]["reads_per_s"]
    plain["problems"] += [f"SASL_SSL: {problem}" for problem in row["problems"]]
    plain["outputs_verified"] = plain["outputs_verified"] and row["outputs_verified"]
    return row


WARM_UP_ENTRIES = 1_000_000


def _sasl_ssl_child(a: argparse.Namespace, entries: int, reads: int) -> dict[str, Any]:
    """A warm-up pass (at most 1M entries), then the measured one, each a child run with --worker-only.

    The plaintext broker has served the peers and the at-least-once worker before its exactly-once
    row; a secured broker's first pass ran exactly once about a fifth slower than every later one (in
    five first passes of five, its at-least-once worker alike in both: docs/performance.md, "The
    SASL_SSL row on a warm broker"). The warm-up pass's figures are kept in the row, not judged."""
    env_file = a.secure_env or SECURE_ENV
    settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line.startswith("PLATEWATCH_"))
    bootstrap = settings["PLATEWATCH_BOOTSTRAP_SERVERS"]
    out = a.out / "sasl_ssl"
    warm_up = _worker_only_child(out / "warm-up", min(entries, WARM_UP_ENTRIES), reads, bootstrap, settings,
                                 "a warm-up pass of")  # fmt: skip
    if "error" in warm_up:
        return {"error": f"warm-up pass: {warm_up['error']}"}
    row = _worker_only_child(out, entries, reads, bootstrap, settings, "the measured pass of")
    if "error" not in row:
        row["warm_up"] = {k: warm_up[k] for k in ("parameters", "at_least_once", "exactly_once", "problems")}
        row["problems"] = [f"warm-up pass: {problem}" for problem in warm_up["problems"]] + row["problems"]
        row["outputs_verified"] = row["outputs_verified"] and warm_up["outputs_verified"]
    return row


def _worker_only_child(out: Path, entries: int, reads: int, bootstrap: str, settings: dict[str, str],
                       what: str) -> dict[str, Any]:  # fmt: skip
    (out / "result.json").unlink(missing_ok=True)  # never an earlier run's row
    print(f"== SASL_SSL on {bootstrap}, {what} {entries:,} entries: the at-least-once worker, then the "
          "exactly-once one", flush=True)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--worker-only", "--out", str(out), "--entries", str(entries),
         "--reads", str(reads), "--bootstrap", bootstrap],
        env={**os.environ, **settings}, check=False,
    )  # fmt: skip
    if done.returncode not in (0, 1) or not (out / "result.json").exists():  # 1: wrong outputs, reported
        return {"error": f"the SASL_SSL run exited {done.returncode} (its output is above)"}
    row: dict[str, Any] = orjson.loads((out / "result.json").read_bytes())
    return row


def judge(comparison: list[dict[str, Any]], *, smoke: bool) -> int:
    """Print the comparison; 1 when a ratio regressed (full runs only: smoke sizes prove nothing)."""
    regressions = [row for row in comparison if row["regression"]]
    for row in comparison:
        flag = "  REGRESSION" if row["regression"] else ""
        print(f"  {row['figure']:<28} {row['baseline']:8.2f} -> {row['now']:8.2f}  ({row['change']:.2f}x){flag}")
    if regressions and not smoke:
        names = ", ".join(row["figure"] for row in regressions)
        print(f"REGRESSION: {len(regressions)} ratio(s) fell more than {1 - TOLERANCE:.0%} below the baseline: {names}",
              file=sys.stderr)  # fmt: skip
        return 1
    if regressions:
        print("(smoke sizes: ratios are computed but not judged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
