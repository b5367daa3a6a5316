"""pytest-html integration: each item's evidence as an extra, and a summary section.

Registered only when pytest-html is active and ``--html`` is given. The item's
fragment is built where the item ran (it needs the sample's code and human
comments) and travels with the report under xdist; the summary is built in the
controller from the run's results. Everything that comes from data is escaped.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Generator, Mapping, Sequence
from html import escape
from typing import Any

import pytest
from pytest_html import extras

from pytest_aicr.collect import EvalItem, record_of
from pytest_aicr.dataset import HELPFUL, NO_CHANGE, NOT_HELPFUL, Sample
from pytest_aicr.outcome import Counts
from pytest_aicr.session import Evaluation
from pytest_aicr.stage_text import CHANGE_WORDS
from pytest_aicr.summary_html import summary_section

LABEL_NAMES = {HELPFUL: "helpful", NOT_HELPFUL: "not helpful", NO_CHANGE: "no change"}


class HtmlReport:
    """Adds the evaluation to pytest-html's report."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        """Attach the item's fragment as an HTML extra of its call report."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if report.when != "call" or not isinstance(item, EvalItem):
            return
        record = record_of(report)
        if record is not None:
            fragment = item_fragment(item.sample, record)
            fragments = [*getattr(report, "extras", []), extras.html(fragment)]
            report.extras = fragments  # type: ignore[attr-defined]

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        """An outcome column beside the result."""
        cells.insert(2, "<th>Outcome</th>")

    def pytest_html_results_table_row(
        self, report: pytest.TestReport, cells: list[str]
    ) -> None:
        """The item's outcome (``TP+FP``, an error category) in its column."""
        record = record_of(report) if isinstance(report, pytest.TestReport) else None
        cells.insert(2, f'<td class="col-aicr">{_text(outcome_label(record))}</td>')

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        """A report pytest-html cannot write is a problem of the run, not a crash."""
        try:
            yield
        except OSError as exc:
            if not _raised_in_pytest_html(exc):
                raise
            path = session.config.getoption("htmlpath")
            problem = f"html report not written to {path}: {exc.strerror or exc}"
            summary = self.evaluation.summary
            if summary is not None:
                summary.problems.append(problem)
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str]
    ) -> None:
        """The run's metrics, gates, stages and charts above pytest-html's table."""
        if self.evaluation.summary is not None:
            prefix.append(summary_section(self.evaluation.summary.as_json()))


def _raised_in_pytest_html(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f"{os.sep}pytest_html{os.sep}" in frame.filename for frame in frames)


def outcome_label(record: Mapping[str, Any] | None) -> str:
    """``TP+FP``-style label, the error category, or empty for other tests."""
    if record is None:
        return ""
    if record.get("status") == "error":
        return f"error: {(record.get('error') or {}).get('category', '')}"
    return Counts(**record["counts"]).label()


def item_fragment(sample: Sample, record: Mapping[str, Any]) -> str:
    """The change, predictions beside human comments, matches, stages, error."""
    parts = ['<div class="aicr-item">']
    parts.append(
        f"<p><b>{_text(record['input_id'])}</b> · {_text(record['variant'])} · "
        f"{_text(record['class'])} · {_text(outcome_label(record))} · "
        f"{_text(record.get('source', ''))}</p>"
    )
    error = record.get("error")
    if error:
        category, stage, message = (
            _text(error.get(name)) for name in ("category", "stage", "message")
        )
        status = error.get("status")
        http = f" (HTTP {_text(status)})" if status is not None else ""
        parts.append(f'<p class="missed">{category} in {stage}{http}: {message}</p>')
    parts.append(diff_html(sample.code))
    parts.append(_comments_table(sample, record))
    parts.append(stage_changes(record.get("stages") or {}))
    parts.append("</div>")
    return "".join(parts)


def _text(value: object) -> str:
    """Escaped for element content (quotes need no escaping there, and are many)."""
    return escape(str(value), quote=False)


def diff_html(code: str) -> str:
    """The change, one escaped line each, added and removed lines marked."""
    lines = []
    for line in code.splitlines():
        kind = ""
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+") and not line.startswith("+++"):
            kind = "add"
        elif line.startswith("-") and not line.startswith("---"):
            kind = "del"
        text = _text(line)
        lines.append(f'<span class="{kind}">{text}</span>' if kind else text)
    return "<pre>" + "\n".join(lines) + "</pre>"


def _comments_table(sample: Sample, record: Mapping[str, Any]) -> str:
    matches: Sequence[Mapping[str, Any]] = record.get("matches") or []
    by_prediction = {m["predicted"]: m for m in matches}
    by_truth = {m["truth"]: m for m in matches}
    predicted = [
        _cell(p["comment"], by_prediction.get(p["comment"]), "unmatched")
        for p in record.get("predicted") or []
    ]
    human = [
        _cell(
            f"[{LABEL_NAMES.get(c.label, c.label)}] {c.text}",
            by_truth.get(c.text),
            "missed" if c.label == HELPFUL else "",
        )
        for c in sample.comments
    ]
    rows = max(len(predicted), len(human), 1)
    body = "".join(
        "<tr><td>"
        + (predicted[i] if i < len(predicted) else "")
        + "</td><td>"
        + (human[i] if i < len(human) else "")
        + "</td></tr>"
        for i in range(rows)
    )
    return (
        "<table><tr><th>predicted</th><th>human (rated)</th></tr>" + body + "</table>"
    )


def _cell(text: str, match: Mapping[str, Any] | None, unmatched: str) -> str:
    if match is not None:
        similarity = f"matched, similarity {match['similarity']:.3f}"
        note = f' <span class="matched">{similarity}</span>'
    elif unmatched:
        note = f' <span class="missed">{unmatched}</span>'
    else:
        note = ""
    return _text(text) + note


def stage_changes(stages: Mapping[str, Mapping[str, Any]]) -> str:
    """What each stage of the chain added, dropped or rewrote, as a list."""
    items = []
    for stage, entry in stages.items():
        for name, texts in (entry.get("changes") or {}).items():
            listed = "; ".join(_text(text) for text in texts)
            word = CHANGE_WORDS.get(name, _text(name))
            items.append(f"<li>{_text(stage)}: {word}: {listed}</li>")
    return f"<p>What each stage changed</p><ul>{''.join(items)}</ul>" if items else ""
