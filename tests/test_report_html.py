"""The pytest-html report: every item's evidence, a summary, markup kept as text."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr import progress
from tests.conftest import LONG_KEY
from tests.fakeserver import Reply, Seen, comments_reply
from tests.test_end_to_end import HELPFUL_A, JUNK, SAMPLES, _prior

SCRIPT_ID = "<script>alert('id')</script>"
IMG_CODE = '+x = "<img src=x onerror=alert(1)>" </td>'
TD_COMMENT = "</td></tr><script>alert('truth')</script>"
IMG_PREDICTION = "<img src=y onerror=alert(2)> closes the cell </td>"

HOSTILE: list[dict[str, Any]] = [
    {
        "input_id": SCRIPT_ID,
        "code": IMG_CODE + " # H1",
        "outputs": [{"output": TD_COMMENT, "is_like": 0}],
    },
    {
        "input_id": "H2",
        "code": "+y = 1 # H2",
        "outputs": [{"output": "fine", "is_like": 1}],
    },
    *SAMPLES[:5],
]
ERROR_ANSWER = "<script>alert('error')</script> is not JSON"


def hostile(seen: Seen) -> Reply:
    if "final reviewer" in seen.prompt:
        prior = _prior(seen)
        return comments_reply(*prior, valid=[c != JUNK for c in prior])
    if "# H2" in seen.prompt:
        return Reply(content=ERROR_ANSWER)
    if "# H1" in seen.prompt:
        return comments_reply(IMG_PREDICTION, TD_COMMENT)
    from tests.test_end_to_end import scripted

    return scripted(seen)


class Elements(HTMLParser):
    """Tags, attributes and text of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.script_text if self._in_script else self.text).append(data)


def parse(markup: str) -> Elements:
    parser = Elements()
    parser.feed(markup)
    parser.close()
    return parser


def assert_inert(markup: str) -> Elements:
    """No element or handler came from data: scripts are pytest-html's own."""
    found = parse(markup)
    for tag, attrs in found.tags:
        assert tag != "img" or not attrs.get("src"), attrs
        handlers = [v for n, v in attrs.items() if n.startswith("on")]
        assert not any("alert(" in (v or "") for v in handlers), (tag, attrs)
    assert not any("alert(" in text for text in found.script_text)
    return found


def report_data(path: Path) -> tuple[str, dict[str, Any]]:
    page = path.read_text(encoding="utf-8")
    blob = next(
        attrs["data-jsonblob"]
        for tag, attrs in parse(page).tags
        if attrs.get("id") == "data-container"
    )
    assert blob is not None
    return page, json.loads(blob)


def write_report(
    pytester: pytest.Pytester, dataset: Path, *args: str
) -> tuple[Path, Any]:
    """Run two variants on ``dataset`` and write a self-contained report."""
    path = pytester.path / "report.html"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-strategy=check-review",
        f"--html={path}",
        "--self-contained-html",
        "--aicr-max-errors=2",
        *args,
    )
    assert outcome.ret == 0, outcome.stdout.str()
    return path, outcome


def test_report_and_progress_under_xdist(
    pytester: pytest.Pytester, monkeypatch, fake_server, endpoint_env, write_jsonl
) -> None:
    monkeypatch.setattr(progress, "FIRST_AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    endpoint_env(fake_server(hostile))
    path, outcome = write_report(
        pytester, write_jsonl("hostile.jsonl", HOSTILE), "-n", "2"
    )
    outcome.stdout.fnmatch_lines(
        [
            f"aicr: */{len(HOSTILE) * 2} items done, * in flight*",
            "*[[]100%[]]",
            "*aicr evaluation*",
        ]
    )
    check_markup_stays_text(path)
    check_every_item_carries_its_extras(path)
    check_summary(path)


def check_markup_stays_text(path: Path) -> None:
    page, data = report_data(path)
    assert LONG_KEY not in page
    assert_inert(page)
    fragments = [
        extra["content"]
        for test in data["tests"].values()
        for run in test
        for extra in run["extras"]
    ]
    rows = [
        cell
        for test in data["tests"].values()
        for run in test
        for cell in [*run["resultsTableRow"], run["log"]]
    ]
    text = " ".join(" ".join(assert_inert(f).text) for f in fragments + rows)
    for shown in (SCRIPT_ID, IMG_PREDICTION, TD_COMMENT, IMG_CODE, ERROR_ANSWER):
        assert shown in text


def check_every_item_carries_its_extras(path: Path) -> None:
    _, data = report_data(path)
    calls = [run for test in data["tests"].values() for run in test]
    assert len(calls) == len(HOSTILE) * 2
    for run in calls:
        [extra] = run["extras"]
        assert 'class="aicr-item"' in extra["content"]
    p1 = next(
        run["extras"][0]["content"]
        for test_id, test in data["tests"].items()
        if "P1" in test_id and "check-review" in test_id
        for run in test
    )
    assert "matched, similarity 1.000" in p1
    assert HELPFUL_A in p1
    assert "review: FP removed: The weather in Paris" in p1
    h2 = next(
        run["extras"][0]["content"]
        for test_id, test in data["tests"].items()
        if "H2" in test_id
        for run in test
    )
    assert "bad_output in check: no JSON in the answer" in h2


def check_summary(path: Path) -> None:
    page, _ = report_data(path)
    summary = page[page.index('id="aicr-summary"') :]
    assert "Metrics (95% bootstrap intervals)" in summary
    assert "What each stage did" in summary
    assert "0 TP lost, 0 TP gained, 1 FP removed, 0 FP added" in summary
    assert summary.count('<svg class="aicr-chart"') == 3
    assert "as the similarity threshold moves" in summary
    assert "http" not in summary.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_no_report_section_without_html(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(hostile))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:2])
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:html", "-p", "no:xdist"
    )
    assert outcome.ret == 0, outcome.stdout.str()


@pytest.mark.parametrize("where", ["parent", "assets"])
def test_html_path_below_a_file_is_a_usage_error_at_start(
    pytester: pytest.Pytester, write_jsonl, where: str
) -> None:
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])
    blocker = pytester.path / ("out" if where == "parent" else "assets")
    blocker.write_text("x")
    report = blocker / "r.html" if where == "parent" else pytester.path / "r.html"

    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", f"--html={report}", "-p", "no:xdist"
    )

    assert outcome.ret == 4
    err = outcome.stderr.str()
    assert f"{blocker} is a file where a folder must be" in err
    assert "INTERNALERROR" not in err + outcome.stdout.str()
    assert blocker.read_text() == "x"
