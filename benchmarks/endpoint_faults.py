"""Fault run and resume against the local fake server: requests, retries, repeats.

Runs the end-to-end test data (6 samples x 3 strategies) as real pytest
subprocesses against tests/fakeserver.py on 127.0.0.1:

- clean and faulty runs (429 with Retry-After, 500 with an HTML body, timeouts,
  connection resets on a share of first attempts) with ``-n 0`` and ``-n 2``;
- a run killed with SIGKILL after 7 answers, then rerun.

Prints requests seen by the server, failures by kind, whether the counts equal the
clean run's, the faulty/clean wall-time ratio and repeated calls after resume.
Usage: ``python benchmarks/endpoint_faults.py`` from the repository root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.commands import pytest_command  # noqa: E402
from tests.fakeserver import FakeServer, Script  # noqa: E402
from tests.test_end_to_end import SAMPLES, scripted  # noqa: E402
from tests.test_resilience import KEYS, STRATEGIES, Faulty  # noqa: E402
from tests.test_resume import HoldAfter  # noqa: E402


def command(folder: Path, name: str, *extra: str) -> list[str]:
    return pytest_command(
        f"--aicr-dataset={folder / 'cases.jsonl'}",
        "--aicr-model=m",
        *STRATEGIES,
        "--aicr-max-errors=3",
        f"--aicr-results={folder / name}.json",
        f"--aicr-cache-dir={folder / name}-cache",
        "--aicr-retry-base=0.05",
        "--aicr-timeout=0.5",
        # the key budget is not what this benchmark measures
        "--aicr-rate-limit=10000",
        "--aicr-rate-window=1",
        *extra,
    )


def environment(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AICR_BASE_URL": url,
        "AICR_API_KEYS": ",".join(KEYS),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def run(folder: Path, script: Script, name: str, *extra: str) -> dict[str, Any]:
    with FakeServer(script) as server:
        started = time.monotonic()
        subprocess.run(
            command(folder, name, *extra),
            cwd=folder,
            env=environment(server.url),
            capture_output=True,
            check=False,
        )
        wall = time.monotonic() - started
        seen = len(server.seen)
    data = json.loads((folder / f"{name}.json").read_text())
    failures: Counter[str] = Counter()
    for entry in data["keys"].values():
        failures.update(entry["failures"])
    counts = {n: v["counts"] for n, v in data["variants"].items()}
    return {"seen": seen, "failures": dict(failures), "counts": counts, "wall": wall}


def fault_run(folder: Path, workers: str) -> None:
    clean = run(folder, scripted, f"clean{workers}", "-n", workers)
    faulty_script = Faulty(scripted)
    faulty = run(folder, faulty_script, f"faulty{workers}", "-n", workers)
    print(
        f"-n {workers}: clean {clean['seen']} requests, faulty {faulty['seen']} "
        f"(injected {dict(faulty_script.injected)}; failures seen "
        f"{faulty['failures']}); counts equal: {clean['counts'] == faulty['counts']}; "
        f"wall faulty/clean {faulty['wall'] / clean['wall']:.2f}"
    )


def resume(folder: Path) -> None:
    hold = HoldAfter(7)
    with FakeServer(hold) as server:
        env = environment(server.url)
        args = command(folder, "resume", "-p", "no:xdist")
        with subprocess.Popen(
            args, cwd=folder, env=env, stdout=subprocess.DEVNULL
        ) as p:
            hold.holding.wait(120)
            p.send_signal(signal.SIGKILL)
            p.wait()
            hold.release.set()
        hold.phase = 2
        subprocess.run(args, cwd=folder, env=env, capture_output=True, check=False)
    repeated = set(hold.asked[2]) & set(hold.answered[1])
    print(
        f"resume: killed run answered {len(hold.answered[1])} of "
        f"{len(hold.asked[1])} asked; rerun asked {len(hold.asked[2])}, "
        f"repeated answered calls {len(repeated)}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "cases.jsonl").write_text(
            "".join(json.dumps(sample) + "\n" for sample in SAMPLES)
        )
        fault_run(folder, "0")
        fault_run(folder, "2")
        resume(folder)


if __name__ == "__main__":
    main()
