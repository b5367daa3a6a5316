"""``aicr report`` renders a results file as one self-contained, inert page."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr import cli

CRSCORE = Path(__file__).resolve().parents[1] / "cases" / "crscore-python.jsonl"
SCRIPT = "<script>alert(1)</script>"
IMAGE = '<img src="x" onerror="alert(2)">'


class Page(HTMLParser):
    """Tags with their attributes, and the text, of a parsed page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def results(pytester: pytest.Pytester) -> Path:
    """A real run's results, with markup planted in an id and in comments."""
    path = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={CRSCORE}", f"--aicr-results={path}", "-p", "no:xdist"
    )
    assert outcome.ret == 0
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    first = document["samples"][0]
    first["input_id"] = SCRIPT
    first["predicted"] = [*(first["predicted"] or []), {"comment": IMAGE}]
    first["matches"] = [
        *(first["matches"] or []),
        {"predicted": IMAGE, "truth": SCRIPT, "similarity": 0.9},
    ]
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_page_has_metrics_and_one_inert_block_per_sample(
    results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report" / "index.html"
    assert cli.main(["report", str(results), "--html", str(out)]) == 0
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    samples = json.loads(results.read_text(encoding="utf-8"))["samples"]
    blocks = [
        a for tag, a in page.tags if tag == "div" and a.get("class") == "aicr-item"
    ]
    assert len(blocks) == len(samples) > 0
    headers = {text.strip() for text in page.text}
    assert {"variant", "tp", "f1"} <= headers
    assert "Metrics (95% bootstrap intervals)" in headers
    names = {tag for tag, _ in page.tags}
    assert "script" not in names
    assert "img" not in names
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    text = "".join(page.text)
    assert SCRIPT in text
    assert IMAGE in text
    external = [
        value
        for _, attrs in page.tags
        for key, value in attrs.items()
        if key in ("src", "href") and value
    ]
    assert external == []


def test_unreadable_results_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert cli.main(["report", str(missing), "--html", str(tmp_path / "o.html")]) == 4
    assert "cannot be read" in capsys.readouterr().err


def test_page_over_its_own_results_is_refused(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = results.read_bytes()
    alias = results.parent / "." / results.name

    assert cli.main(["report", str(results), "--html", str(alias)]) == 4

    assert "would overwrite the results" in capsys.readouterr().err
    assert results.read_bytes() == before


def test_page_onto_a_fifo_is_refused(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "page.html"
    os.mkfifo(out)

    assert cli.main(["report", str(results), "--html", str(out)]) == 4

    assert "is not a regular file" in capsys.readouterr().err
    assert out.is_fifo()


@pytest.mark.parametrize("command", ["report", "merge"])
@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ({"samples": "x"}, '"samples" is not a list'),
        ({"samples": [{"junk": 1}]}, 'sample 0: no "input_id"'),
        ({"variants": {"v": "x"}}, "variant 'v' has no \"metrics\" object"),
    ],
)
def test_damaged_results_exit_4_naming_what_is_wrong(
    results: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    damage: dict[str, Any],
    named: str,
) -> None:
    document = json.loads(results.read_text(encoding="utf-8"))
    document.update(damage)
    results.write_text(json.dumps(document), encoding="utf-8")
    out = str(tmp_path / "out")
    output = ["--html", out] if command == "report" else ["-o", out]

    assert cli.main([command, str(results), *output]) == 4

    assert f"{results}: a damaged results file ({named})" in capsys.readouterr().err


def test_page_of_an_incomplete_run_says_so_and_lists_the_missing_items(
    results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "page.html"
    assert cli.main(["report", str(results), "--html", str(out)]) == 0
    assert "INCOMPLETE" not in out.read_text(encoding="utf-8")
    document = json.loads(results.read_text(encoding="utf-8"))
    document["complete"] = False
    document["lost"] = [{"input_id": "LOST-1", "variant": "v", "nodeid": "a::L"}]
    document["not_run"] = [{"input_id": "UNRUN-2", "variant": "v", "nodeid": "a::U"}]
    results.write_text(json.dumps(document), encoding="utf-8")

    assert cli.main(["report", str(results), "--html", str(out)]) == 0

    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert "INCOMPLETE: 1 items lost, 1 not run" in text
    assert "LOST-1" in text
    assert "UNRUN-2" in text
