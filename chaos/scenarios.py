"""The faults: each a coroutine run a few seconds into a scenario, while reads keep coming."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.workload import write_registry
from streams.policy.store import DEFAULT_POLICY, load_policy

if TYPE_CHECKING:
    from chaos.run import Run

SESSION_S = 6.0  # the workers' session timeout (Settings.session_timeout_ms)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    fault: Callable[[Run], Awaitable[None]]
    target_s: float | None  # longest a read may wait for its alert after the fault (None: reported only)
    workers_at_start: int = 2
    poison_rate: float = 0.0
    decoys: bool = False
    drain_before_fault: bool = False  # every read before the fault processed first (a policy boundary)
    blocking_fault: bool = False  # reads resume only once the fault has taken effect


async def worker_kill(run: Run) -> None:
    run.workers[1].kill()


async def worker_restart(run: Run) -> None:
    run.notes["exit_code_on_sigterm"] = await asyncio.to_thread(run.workers[1].terminate)
    await run.start_worker(1)


async def worker_zombie(run: Run) -> None:
    """Paused past its session timeout: the group gives its partitions away; then it wakes up and
    tries to finish the batch it had in hand. Fencing must refuse it."""
    w = run.workers[1]
    w.signal(signal.SIGSTOP)
    await asyncio.sleep(SESSION_S + 4)
    w.signal(signal.SIGCONT)
    await asyncio.sleep(5)
    run.notes.setdefault("checks", {})["the zombie is still running after waking"] = w.alive()


async def scale_out(run: Run) -> None:
    await run.start_worker(2)


async def broker_kill(run: Run) -> None:
    topics = [run.names.reads_for(a.ori) for a in run.policies[0].registry]
    node, led = await asyncio.to_thread(run.cluster.leader_of_most, run.clients, topics)
    run.notes["killed_node"], run.notes["partitions_it_led"] = node, led
    await asyncio.to_thread(run.cluster.kill, node)
    await asyncio.sleep(10)
    await asyncio.to_thread(run.cluster.up)


async def all_brokers_restart(run: Run) -> None:
    started = time.monotonic()
    await asyncio.to_thread(run.cluster.stop_all)
    await asyncio.to_thread(run.cluster.up)
    run.notes["cluster_down_s"] = round(time.monotonic() - started, 1)


async def publisher_kill(run: Run) -> None:
    """A hotlist load killed half way: its decoy plates (in the reads since the start) must never hit."""
    child = subprocess.Popen(
        [sys.executable, "-m", "chaos.dead_publisher", run.settings.bootstrap_servers, run.names.hotlist_updates],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await asyncio.to_thread(child.stdout.readline)
    child.kill()
    child.wait(10)
    child.stdout.close()
    run.notes["publisher"] = line.decode().strip()
    pending = 0.0
    for _ in range(40):
        await asyncio.sleep(0.25)
        pending = min(w.metric("platewatch_hotlist_uncommitted_records") for w in run.workers.values())
        if pending:
            break
    run.notes["uncommitted_records_reported"] = pending
    run.notes.setdefault("checks", {})["every replica reports the pending load"] = pending > 0


async def registry_reload(run: Run) -> None:
    """An agency added to the registry with a subscription: its alert topic exists before its first
    alert, and reads from then on are shared with it."""
    write_registry(run.registry_file, with_added=True)
    policy = load_policy(DEFAULT_POLICY, run.registry_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        versions = {w.policy_version() for w in run.workers.values()}
        topics = await run.clients.topic_partitions(run.names.alerts("CA0380100"))
        if versions == {policy.version} and topics:
            break
        await asyncio.sleep(0.25)
    else:
        run.notes.setdefault("checks", {})["workers took the new registry within 30 s"] = False
    run.policies.append(policy)
    run.policy_since.append(int(time.time() * 1000))


async def poison_pills(run: Run) -> None:
    await asyncio.sleep(8)
    run.notes.setdefault("checks", {})["no worker exited on input"] = all(w.alive() for w in run.workers.values())


# fmt: off
ALL: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("worker_kill", "SIGKILL of one of two workers", worker_kill, SESSION_S + 2),
        Scenario("worker_restart", "SIGTERM of a worker, then its restart", worker_restart, 3.0),
        Scenario(
            "worker_zombie", f"SIGSTOP of a worker for {SESSION_S + 4:g}s, then SIGCONT", worker_zombie, SESSION_S + 2
        ),
        Scenario("scale_out", "a second worker joins the first", scale_out, 3.0, workers_at_start=1),
        Scenario(
            "broker_kill",
            "SIGKILL of the broker leading the most read partitions, restarted 10 s later",
            broker_kill,
            10.0,
        ),
        Scenario("all_brokers_restart", "every broker stopped, then started", all_brokers_restart, None),
        Scenario(
            "publisher_kill", "SIGKILL of a hotlist publisher half way through a load", publisher_kill, 3.0, decoys=True
        ),
        Scenario(
            "registry_reload",
            "a registry reload adds an agency with a subscription",
            registry_reload,
            3.0,
            drain_before_fault=True,
            blocking_fault=True,
        ),
        Scenario("poison_pills", "2% poison pills among the reads", poison_pills, 3.0, poison_rate=0.02),
    )
}
# fmt: on
