"""Throughput of the key pool against a local server that enforces per-key budgets.

One workload (~90 calls, 4 keys, 3 requests per key per 3 s, 0.3-1.0 s latency) is
run several ways in one go, each a real ``pytest`` subprocess:

- the key pool, one process (``-n 0``) and two workers (``-n 2``);
- the key pool on a real redis-server (``-n 2``);
- a naive limiter that limits each process only by itself (``-n 2``), built here by
  giving every process a store of its own.

The server answers 429 to any request over a key's budget and counts them. For each
way it prints the wall time of the run, the span from the first call to the last
answer, the bound ``calls / (keys x rate / window) + one mean latency``, their
ratio, the requests over budget, and the CPU seconds the run's processes used
during that span (every answer is empty, so there is nothing to embed: the span's
CPU is the cost of waiting and calling). Run from the repository root::

    python benchmarks/throughput.py
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.commands import pytest_command  # noqa: E402
from tests.fakeserver import FakeServer, Reply, Seen  # noqa: E402
from tests.redisserver import RedisServer, find_redis_server  # noqa: E402

KEYS = [f"sk-bench-{i}-0000000000000000k{i:03d}" for i in range(4)]
RATE, WINDOW = 3, 3.0
CALLS = 90
LATENCY = (0.3, 1.0)
MEAN_LATENCY = sum(LATENCY) / 2
TICK = 0.1

NAIVE_PLUGIN = '''
"""Each process keeps its own budget: the naive limiter other harnesses use."""
import os

import pytest_aicr.endpoint_setup
from pytest_aicr.limiter_sqlite import SqliteReservation


def _own_store(limiter, cache_dir, budget):
    cache_dir.mkdir(parents=True, exist_ok=True)
    return SqliteReservation(cache_dir / f"own-{os.getpid()}.sqlite3", budget)


pytest_aicr.endpoint_setup.open_store = _own_store
'''


@dataclass
class BudgetServer:
    """A script for FakeServer: latency, and 429 for requests over a key's budget."""

    accepted: dict[str, deque[float]] = field(default_factory=dict)
    over: int = 0
    answered: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __call__(self, seen: Seen) -> Reply:
        with self.lock:
            times = self.accepted.setdefault(seen.key, deque())
            while times and seen.at - times[0] >= WINDOW:
                times.popleft()
            if len(times) >= RATE:
                self.over += 1
                return Reply(status=429)
            times.append(seen.at)
            delay = self.rng.uniform(*LATENCY)
            self.answered.append((seen.at, seen.at + delay))
        return Reply(content='{"comments": []}', delay=delay)


class CpuMonitor:
    """Samples the CPU time of a process tree from /proc every tick."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ticks = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> CpuMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> float:
        """CPU seconds used by the tree from ``start`` to ``end`` (monotonic)."""
        inside = [cpu for at, cpu in self.samples if start - TICK <= at <= end + TICK]
        return inside[-1] - inside[0] if len(inside) > 1 else 0.0

    def _run(self) -> None:
        seen: dict[int, float] = {}
        while not self._stop.wait(TICK):
            for pid in self._tree():
                cpu = self._cpu(pid)
                if cpu is not None:
                    seen[pid] = cpu
            self.samples.append((time.monotonic(), sum(seen.values())))

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = self._stat(int(entry.name))
                if stat is not None:
                    parents[int(entry.name)] = int(stat[1])
        tree, frontier = [self.root], [self.root]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            tree.extend(children)
            frontier.extend(children)
        return tree

    def _stat(self, pid: int) -> list[str] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text.rpartition(")")[2].split()

    def _cpu(self, pid: int) -> float | None:
        stat = self._stat(pid)
        if stat is None:
            return None
        return (int(stat[11]) + int(stat[12])) / self._ticks


@dataclass
class Outcome:
    name: str
    wall: float
    span: float
    over: int
    cpu: float
    errors: int


def run_way(
    name: str, folder: Path, extra: list[str], env_extra: dict[str, str]
) -> Outcome:
    """One pytest run against a fresh budget-enforcing server."""
    script = BudgetServer()
    work = folder / name.replace(" ", "_")
    work.mkdir()
    results = work / "results.json"
    with FakeServer(script) as server:
        env = {
            **os.environ,
            "AICR_BASE_URL": server.url,
            "AICR_API_KEYS": ",".join(KEYS),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)]),
            **env_extra,
        }
        command = pytest_command(
            "-q",
            f"--aicr-dataset={folder / 'cases.jsonl'}",
            "--aicr-model=m",
            f"--aicr-rate-limit={RATE}",
            f"--aicr-rate-window={WINDOW}",
            "--aicr-max-errors=1000",
            f"--aicr-results={results}",
            f"--rootdir={work}",
            *extra,
        )
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        with CpuMonitor(process.pid) as monitor:
            output, _ = process.communicate(timeout=300)
        wall = time.monotonic() - started
    if process.returncode not in (0, 1):
        raise SystemExit(f"{name}: pytest failed\n{output.decode()[-3000:]}")
    first = min(start for start, _ in script.answered)
    last = max(end for _, end in script.answered)
    errors = sum(
        v["errors"] for v in json.loads(results.read_text())["variants"].values()
    )
    return Outcome(
        name, wall, last - first, script.over, monitor.between(first, last), errors
    )


def main() -> None:
    bound = CALLS / (len(KEYS) * RATE / WINDOW) + MEAN_LATENCY
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="aicr-bench-") as tmp:
        folder = Path(tmp)
        cases = [
            {"input_id": f"c{i:03d}", "code": f"+x = {i}", "outputs": []}
            for i in range(CALLS)
        ]
        (folder / "cases.jsonl").write_text(
            "".join(json.dumps(case) + "\n" for case in cases)
        )
        (folder / "naive_limiter.py").write_text(NAIVE_PLUGIN)
        ways: list[tuple[str, list[str], dict[str, str]]] = [
            ("pool -n 0", ["-n", "0"], {}),
            ("pool -n 2", ["-n", "2"], {}),
            ("naive -n 2", ["-n", "2", "-p", "naive_limiter"], {}),
        ]
        for name, extra, env in ways:
            outcomes.append(run_way(name, folder, extra, env))
        executable = find_redis_server()
        if executable is not None:
            with RedisServer(executable) as redis_server:
                extra = ["-n", "2", f"--aicr-limiter={redis_server.url}"]
                outcomes.append(run_way("pool redis -n 2", folder, extra, {}))
    print_table(outcomes, bound)


def print_table(outcomes: list[Outcome], bound: float) -> None:
    print(
        f"{CALLS} calls, {len(KEYS)} keys x {RATE} per {WINDOW:g} s, latency "
        f"{LATENCY[0]:g}-{LATENCY[1]:g} s; bound {bound:.2f} s"
    )
    header = (
        f"{'way':<16} {'wall s':>7} {'span s':>7} {'bound s':>7} {'span/bound':>10} "
        f"{'over budget':>11} {'errors':>6} {'CPU s in span':>13} {'% of a core':>11}"
    )
    print(header)
    for o in outcomes:
        share = 100 * o.cpu / o.span if o.span else 0.0
        print(
            f"{o.name:<16} {o.wall:>7.2f} {o.span:>7.2f} {bound:>7.2f} "
            f"{o.span / bound:>10.3f} {o.over:>11d} {o.errors:>6d} "
            f"{o.cpu:>13.2f} {share:>11.1f}"
        )


if __name__ == "__main__":
    main()
