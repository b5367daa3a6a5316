"""``aicr report RESULTS --html OUT``: one self-contained page from a results file.

The matrix's final job has no pytest-html report of the whole run, only the
merged results; this renders them with the report's own summary section and one
block per sample. Results keep no code or human comments, so a sample's block
shows its outcome, error, predictions with their matches and the stage changes.
No scripts, no external resources; every value from data is escaped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from pytest_aicr.atomic import write_output
from pytest_aicr.errors import UsageProblem
from pytest_aicr.report_html import outcome_label, stage_changes
from pytest_aicr.results import read_results_file
from pytest_aicr.summary_html import summary_section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``aicr report RESULTS --html OUT``."""
    parser.add_argument("results", type=Path, help="results file to render")
    parser.add_argument(
        "--html", type=Path, required=True, metavar="OUT", help="HTML file to write"
    )


def run(args: argparse.Namespace) -> int:
    """Write the page; exit status 0, or 4 when input or output is unusable."""
    if args.html.resolve() == args.results.resolve():
        raise UsageProblem(f"{args.html}: the page would overwrite the results")
    document = read_results_file(args.results)
    page = render_page(document, title=args.results.name)
    write_output(args.html, page.encode("utf-8"))
    samples = len(document.get("samples") or [])
    sys.stdout.write(f"report of {samples} samples written to {args.html}\n")
    return 0


def render_page(document: Mapping[str, Any], title: str) -> str:
    """The whole HTML page for one results document."""
    samples: Sequence[Mapping[str, Any]] = document.get("samples") or []
    blocks = "".join(sample_block(sample) for sample in samples)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>aicr report: {_text(title)}</title></head><body>"
        f"{summary_section(document)}"
        f'<div class="aicr" id="aicr-samples"><h2>Samples ({len(samples)})</h2>'
        f"{blocks}</div></body></html>\n"
    )


def sample_block(sample: Mapping[str, Any]) -> str:
    """One sample: its outcome line, error, predictions and what stages changed."""
    head = " · ".join(
        _text(sample.get(name, ""))
        for name in ("input_id", "variant", "class", "source")
    )
    parts = [
        '<div class="aicr-item">',
        f"<p><b>{head}</b> · {_text(outcome_label(sample))}</p>",
    ]
    error = sample.get("error")
    if error:
        category, stage, message = (
            _text(error.get(name)) for name in ("category", "stage", "message")
        )
        parts.append(f'<p class="missed">{category} in {stage}: {message}</p>')
    parts.append(_predictions(sample))
    parts.append(stage_changes(sample.get("stages") or {}))
    parts.append("</div>")
    return "".join(parts)


def _predictions(sample: Mapping[str, Any]) -> str:
    """Each predicted comment beside the human comment it matched, if any."""
    matches = {m["predicted"]: m for m in sample.get("matches") or []}
    rows = []
    for predicted in sample.get("predicted") or []:
        match = matches.get(predicted["comment"])
        found = (
            f'{_text(match["truth"])} <span class="matched">similarity '
            f"{float(match['similarity']):.3f}</span>"
            if match
            else '<span class="missed">unmatched</span>'
        )
        rows.append(f"<tr><td>{_text(predicted['comment'])}</td><td>{found}</td></tr>")
    if not rows:
        return "<p>no predicted comments</p>"
    head = "<tr><th>predicted</th><th>matched human comment</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _text(value: object) -> str:
    return escape(str(value))
