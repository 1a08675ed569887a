"""Peer: Kafka's own consumer benchmark on the JVM, `ConsumerPerformance` (the class behind
kafka-consumer-perf-test.sh): the ceiling of consuming alone, in the Java client.

    python -m benchmarks.peers.jvm_consumer_perf --bootstrap HOST:PORT --topic T --reads N --group G

The tool runs as kafka-consumer-perf-test.sh runs it (its JVM options, 512 MB heap, the tool's own
consumer settings: a group, 1 MiB per partition fetch, CRC checks off), from the jars of
deploy/kafka/kafka.sh: the broker's (`kafka.sh fetch`, in deploy/kafka/.jars or KAFKA_JARS_DIR) and
Kafka's tools jar, which kafka.sh's `fetch_tools` resolves into deploy/kafka/.jars/tools (a Kafka
distribution has it among its jars); when it is missing it is resolved the same way, from
deploy/kafka/secure/tools-pom.xml.

The timing window is common.py's, read from the tool's own clock: with `--show-detailed-stats
--reporting-interval 1` it prints a line (millisecond timestamp, reads so far) at the first read of
a poll at most every millisecond. The first line is the first batch in hand; the second tells that
batch's size; the last is the last batch, whose few hundred reads the tool counts in microseconds.
CPU is the Java process's (user + system, every thread) over the same window: its /proc clock ticks
(10 ms), sampled every 5 ms and interpolated at the two timestamps. Plaintext brokers only.
"""

from __future__ import annotations

import bisect
import datetime as dt
import glob
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from benchmarks.peers.common import STALL_S, emit, peer_arguments, window_figures
from streams.ops.settings import build_settings

ROOT = Path(__file__).resolve().parent.parent.parent
KAFKA = ROOT / "deploy" / "kafka"
TOOL = "org.apache.kafka.tools.ConsumerPerformance"
# kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS and kafka-consumer-perf-test.sh's KAFKA_HEAP_OPTS
JVM_OPTIONS = (
    "-Xmx512M", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
)  # fmt: skip
DATE_FORMAT = "%Y-%m-%d %H:%M:%S:%f"  # the tool's default, yyyy-MM-dd HH:mm:ss:SSS
SAMPLE_S = 0.005
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def jars_dir() -> Path:
    given = os.environ.get("KAFKA_JARS_DIR")
    return Path(given) if given else KAFKA / ".jars"


def tools_jar() -> str | None:
    jars = jars_dir()
    found = glob.glob(str(jars / "kafka-tools-[0-9]*.jar")) + glob.glob(str(jars / "tools" / "kafka-tools-[0-9]*.jar"))
    return found[0] if found else None


def ready() -> bool:
    """Whether the peer can run without resolving anything (Java, the broker's jars and the tools jar)."""
    jars = jars_dir()
    complete = bool(os.environ.get("KAFKA_JARS_DIR")) or (jars / ".complete").exists()
    return (
        complete
        and bool(glob.glob(str(jars / "kafka-clients-*.jar")))
        and tools_jar() is not None
        and (subprocess.run(["java", "-version"], capture_output=True, check=False).returncode == 0)
    )


def classpath() -> str:
    """The broker's jars and the tools jar, resolved as kafka.sh resolves them when missing."""
    subprocess.run([str(KAFKA / "kafka.sh"), "fetch"], check=True, stdout=sys.stderr)
    jars = jars_dir()
    if tools_jar() is None:
        version = next(
            line.split(">")[1].split("<")[0]
            for line in (KAFKA / "pom.xml").read_text().splitlines()
            if "<kafka.version>" in line
        )
        subprocess.run(
            ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(KAFKA / "secure" / "tools-pom.xml"),
             f"-Dkafka.version={version}", "dependency:copy-dependencies", f"-DoutputDirectory={jars / 'tools'}",
             "-DincludeScope=runtime"],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        (jars / "tools" / ".complete").touch()
    return f"{jars}/*:{jars}/tools/*"


class CpuSampler(threading.Thread):
    """(wall time, CPU seconds) of a process every SAMPLE_S, from /proc/PID/stat (user + system ticks);
    also its peak resident memory and most threads, from /proc/PID/status."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = f"/proc/{pid}"
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.max_rss_mb = 0.0
        self.threads = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with open(f"{self.proc}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"{self.proc}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
            except (OSError, ValueError):
                return
            now = time.time()
            self.times.append(now)
            self.cpu.append((int(fields[11]) + int(fields[12])) * TICK_S)  # utime, stime
            if "VmHWM" in status:  # absent once the process is a zombie
                self.max_rss_mb = int(status["VmHWM"].split()[0]) / 1024
                self.threads = max(self.threads, int(status["Threads"]))
            self.stopping.wait(SAMPLE_S)

    def at(self, t: float) -> float:
        """CPU seconds at wall time `t`, interpolated between the samples around it."""
        i = bisect.bisect_left(self.times, t)
        if i == 0 or i == len(self.times):
            raise RuntimeError("no CPU sample around the window's edges")
        t0, t1, c0, c1 = self.times[i - 1], self.times[i], self.cpu[i - 1], self.cpu[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0)


def parse(lines: list[str]) -> list[tuple[float, int]]:
    """(epoch seconds, reads so far) of each detailed-stats line."""
    rows = []
    for line in lines:
        if line.startswith("WARNING"):
            raise RuntimeError(f"ConsumerPerformance: {line.strip()}")
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            continue
        when = dt.datetime.strptime(fields[0], DATE_FORMAT).timestamp()  # the JVM's zone is this process's
        rows.append((when, int(fields[4])))
    return rows


def run(bootstrap: str, topic: str, expect: int, group: str) -> dict[str, Any]:
    settings = build_settings({"bootstrap_servers": bootstrap})
    if settings.security_protocol != "PLAINTEXT":
        raise RuntimeError("the JVM peer runs on a PLAINTEXT broker only (it passes no security settings)")
    command = [
        "java", *JVM_OPTIONS, f"-Dlog4j2.configurationFile={KAFKA / 'tools-log4j2.xml'}", "-cp", classpath(), TOOL,
        "--bootstrap-server", settings.bootstrap_servers, "--topic", topic, "--messages", str(expect),
        "--group", group, "--show-detailed-stats", "--reporting-interval", "1", "--hide-header",
        "--timeout", str(int(STALL_S * 1000)),
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as java:
        sampler = CpuSampler(java.pid)
        sampler.start()
        out: IO[str] | None = java.stdout
        assert out is not None
        lines = out.readlines()
        sampler.stopping.set()
        sampler.join()
        if java.wait() != 0:
            raise RuntimeError(f"ConsumerPerformance exited with {java.returncode}")
    rows = parse(lines)
    if len(rows) < 2:
        raise RuntimeError(f"ConsumerPerformance printed {len(rows)} progress lines, not enough to time")
    (t0, _), (_, second), (end, _) = rows[0], rows[1], rows[-1]
    first_batch = second - 1  # the second line is printed at the first read of a later poll
    cpu = sampler.at(end) - sampler.at(t0)
    return {
        **window_figures(expect, first_batch, end - t0, end - t0, cpu),
        "threads": sampler.threads,
        "max_rss_mb": sampler.max_rss_mb,  # the Java process's (emit's own would be this wrapper's)
        "progress_lines": len(rows),
        "tool": TOOL,
        "jvm_options": list(JVM_OPTIONS),
        "kafka_tools_jar": Path(tools_jar() or "").name,
    }


def main(argv: list[str] | None = None) -> int:
    args = peer_arguments(__doc__.split("\n")[0] if __doc__ else None).parse_args(argv)
    figures = run(args.bootstrap, args.topic, args.reads, args.group)
    emit("jvm-consumer-perf", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
