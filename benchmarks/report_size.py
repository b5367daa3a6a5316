"""Size and open time of the HTML report for a 3,000-item run.

Builds a 3,000-sample dataset from the bundled CRScore cases (each case repeated
under new ids), evaluates it offline with builtin:rules on two xdist workers into a
self-contained pytest-html report, then opens the report in headless Chromium.

Prints the report's size, the run's wall time, the browser's wall time to load and
dump the page against a blank page, and the page's own time to its load event.

    python benchmarks/report_size.py [--items 3000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import find_chromium, open_page  # noqa: E402
from tests.commands import pytest_command  # noqa: E402

MARK_LOAD = (
    "<script>addEventListener('load', () => {document.documentElement"
    ".dataset.aicrLoaded = performance.now().toFixed(0)})</script>"
)


def make_dataset(path: Path, items: int) -> None:
    cases = [
        json.loads(line)
        for name in ("crscore-java.jsonl", "crscore-python.jsonl")
        for line in (ROOT / "cases" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with path.open("w", encoding="utf-8") as out:
        for index, case in enumerate(islice(cycle(cases), items)):
            case = {**case, "input_id": f"{case['input_id']}-{index}"}
            out.write(json.dumps(case) + "\n")


def run_report(work: Path, items: int) -> tuple[Path, float]:
    dataset = work / "cases.jsonl"
    make_dataset(dataset, items)
    report = work / "report.html"
    started = time.perf_counter()
    subprocess.run(
        pytest_command(
            "-q",
            "-n",
            "2",
            f"--rootdir={work}",
            f"--aicr-dataset={dataset}",
            f"--html={report}",
            "--self-contained-html",
        ),
        cwd=work,
        check=True,
        capture_output=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    browser = find_chromium()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        report, run_seconds = run_report(work, args.items)
        size = report.stat().st_size
        print(f"items: {args.items}")
        print(
            f"report: {size / 1e6:.2f} MB ({size / args.items / 1e3:.2f} kB per item)"
        )
        print(f"pytest run (builtin:rules, -n 2): {run_seconds:.1f} s")
        if browser is None:
            print("Chromium not found: open time not measured")
            return
        marked = work / "marked.html"
        marked.write_text(
            report.read_text(encoding="utf-8").replace(
                "</body>", MARK_LOAD + "</body>"
            ),
            encoding="utf-8",
        )
        blank = work / "blank.html"
        blank.write_text("<html><body></body></html>", encoding="utf-8")
        print(f"load average (1 min) before opening: {os.getloadavg()[0]:.1f}")
        for attempt in range(3):
            empty = open_page(browser, blank, work / f"blank-{attempt}", "--dump-dom")
            page = open_page(
                browser, marked, work / f"report-{attempt}", "--dump-dom", timeout=600
            )
            loaded = page.dom.split('data-aicr-loaded="', 1)[1].split('"', 1)[0]
            print(
                f"open {attempt + 1}: browser {page.seconds:.2f} s (blank page "
                f"{empty.seconds:.2f} s, ratio {page.seconds / empty.seconds:.1f}x); "
                f"load event at {int(loaded) / 1000:.2f} s; "
                f"console messages {len(page.console)}"
            )


if __name__ == "__main__":
    main()
