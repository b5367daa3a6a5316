"""Collection of a large dataset against a plain parametrize of as many tests.

Runs ``pytest --collect-only -q`` in a child process for each, at 2,500, 5,000
and 10,000 samples, and prints wall time (best of 3, interleaved), the ratio and
each child's peak memory (ru_maxrss); then the largest dataset in every other
format.
Targets (DESIGN section 12): 10,000 samples under 10 s and within 2x of the
parametrize; memory flat in dataset size; no torch import while collecting.

    PYTHONPATH=. python benchmarks/collection.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (2_500, 5_000, 10_000)
CODE = (
    "--- a/src/app/orders.py\n+++ b/src/app/orders.py\n"
    "@@ -10,6 +10,8 @@ class Orders:\n"
    "     def total(self, items):\n-        return sum(items)\n"
    "+        print('debug', items)\n+        return sum(i.price for i in items)\n"
)
TRIVIAL = (
    "import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\n"
    "def test_trivial(i):\n    assert i >= 0\n"
)
TORCH_PROBE = (
    "import sys, pytest\n"
    "code = pytest.main(['--collect-only', '-q', '--aicr-dataset={path}'])\n"
    "sys.stdout.write('TORCH=%s\\n' % ('torch' in sys.modules))\n"
)


def write_dataset(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            record = {
                "input_id": f"sample-{i:05d}",
                "code": CODE.replace("Orders", f"Orders{i}"),
                "outputs": [
                    {
                        "output": "Left-over debug output; remove the print.",
                        "is_like": 0,
                    },
                    {"output": "Consider a generator expression.", "is_like": 2},
                ],
            }
            out.write(json.dumps(record) + "\n")


def run_child(args: list[str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and output of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, text=True
    )
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"child failed ({child.returncode}): {args}\n{output[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024, output


def paired(runs: int, first: list[str], second: list[str], cwd: Path) -> list[Any]:
    """Fastest time and peak memory of each command, runs interleaved.

    Interleaving lets load from other work on a shared machine fall on both alike.
    """
    outcomes: list[list[tuple[float, int, str]]] = [[], []]
    for _ in range(runs):
        outcomes[0].append(run_child(first, cwd))
        outcomes[1].append(run_child(second, cwd))
    return [
        (min(o[0] for o in runs_), max(o[1] for o in runs_), runs_[0][2])
        for runs_ in outcomes
    ]


def collected(output: str) -> int:
    return sum(1 for line in output.splitlines() if "::" in line)


def formats(root: Path, jsonl: Path) -> None:
    """The largest dataset in every other format (converted with ``aicr convert``)."""
    print(f"{'format':>8} {'aicr s':>8} {'aicr MiB':>9}")
    for fmt in ("json", "yaml", "csv", "xlsx"):
        target = root / f"cases.{fmt}"
        run_child(["-m", "pytest_aicr", "convert", str(jsonl), str(target)], root)
        args = ["-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
        seconds, mib, out = run_child([*args, f"--aicr-dataset={target}"], root)
        assert collected(out) == SIZES[-1], out[-500:]
        print(f"{fmt:>8} {seconds:>8.2f} {mib:>9}")


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(
        f"{'samples':>8} {'aicr s':>8} {'param s':>8} {'ratio':>6} "
        f"{'aicr MiB':>9} {'param MiB':>10}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in SIZES:
            dataset = root / f"cases-{n}.jsonl"
            write_dataset(dataset, n)
            trivial = root / f"test_trivial_{n}.py"
            trivial.write_text(TRIVIAL.replace("{n}", str(n)))
            base = ["-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
            (aicr_s, aicr_mb, aicr_out), (param_s, param_mb, param_out) = paired(
                3, [*base, f"--aicr-dataset={dataset}"], [*base, trivial.name], root
            )
            assert collected(aicr_out) == n, aicr_out[-500:]
            assert collected(param_out) == n, param_out[-500:]
            results[n] = (aicr_s, param_s)
            print(
                f"{n:>8} {aicr_s:>8.2f} {param_s:>8.2f} {aicr_s / param_s:>6.2f} "
                f"{aicr_mb:>9} {param_mb:>10}"
            )
        formats(root, root / f"cases-{SIZES[-1]}.jsonl")
        probe = TORCH_PROBE.replace("{path}", str(root / f"cases-{SIZES[-1]}.jsonl"))
        _, _, out = run_child(["-c", probe], root)
    torch = out.strip().splitlines()[-1]
    aicr_s, param_s = results[SIZES[-1]]
    print(
        f"{SIZES[-1]} samples: {aicr_s:.2f} s (target < 10 s: "
        f"{'met' if aicr_s < 10 else 'MISSED'}), {aicr_s / param_s:.2f}x the "
        f"parametrize (target <= 2x: {'met' if aicr_s <= 2 * param_s else 'MISSED'})"
    )
    print(f"torch imported during collection: {torch.split('=')[1]}")


if __name__ == "__main__":
    main()
