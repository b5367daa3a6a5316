"""The terminal summary: per-variant counts and metrics, errors, gate verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_aicr.accounting import call_lines
from pytest_aicr.baseline import comparison_lines
from pytest_aicr.gates import errors_line
from pytest_aicr.metrics import METRIC_NAMES
from pytest_aicr.options import Settings
from pytest_aicr.outcome import COUNT_NAMES
from pytest_aicr.results import RunSummary
from pytest_aicr.stage_text import cost_line, stage_line


def write_summary(
    reporter: pytest.TerminalReporter, summary: RunSummary, settings: Settings
) -> None:
    """Write the summary; under ``-q`` only failures of the run are shown."""
    quiet = reporter.config.get_verbosity() < 0
    if not quiet:
        title = "aicr evaluation" if summary.complete else "aicr evaluation: INCOMPLETE"
        reporter.write_sep("=", title, red=not summary.complete)
        for name, figures in summary.variants.items():
            _write_variant(reporter, name, figures)
        reporter.write_line(
            f"similarity threshold {settings.similarity:g}, ro-scope "
            f"{settings.ro_scope}, wall time {summary.wall_time:.1f} s"
        )
        for line in call_lines(summary.keys, summary.run.get("calls", {})):
            reporter.write_line(line)
        for comparison in summary.comparisons:
            for line in comparison_lines(comparison):
                reporter.write_line(line)
        for verdict in summary.gates:
            if verdict.passed:
                reporter.write_line(f"gate passed: {verdict.message}", green=True)
    for verdict in summary.failed_gates:
        reporter.write_line(f"gate FAILED: {verdict.message}", red=True, bold=True)
    errors = summary.error_count
    if errors:
        tolerated = errors <= settings.max_errors
        reporter.write_line(
            errors_line(errors, settings.max_errors),
            yellow=tolerated,
            red=not tolerated,
        )
    for problem in summary.problems:
        reporter.write_line(problem, red=True)
    if not summary.complete:
        for line in incomplete_lines(summary.as_json()):
            reporter.write_line(line, red=True)
        reporter.write_line(
            "run the same command again to finish: answers already received are "
            "replayed from the cache"
        )


def incomplete_lines(results: dict[str, Any]) -> list[str]:
    """What an incomplete run lacks, naming the items (empty when complete)."""
    if results.get("complete", True):
        return []
    lost, not_run = results.get("lost") or [], results.get("not_run") or []
    scored = len(results.get("samples") or [])
    lines = [
        f"INCOMPLETE run: metrics cover {scored} of {scored + len(lost) + len(not_run)}"
        " items; no gate can pass on it"
    ]
    if lost:
        lines.append(f"lost with a crashed worker ({len(lost)}): {_named(lost)}")
    if not_run:
        lines.append(f"not run ({len(not_run)}): {_named(not_run)}")
    return lines


def _named(entries: list[dict[str, Any]], shown: int = 10) -> str:
    names = [f"{e['input_id']} [{e['variant']}]" for e in entries[:shown]]
    more = len(entries) - shown
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _write_variant(
    reporter: pytest.TerminalReporter, name: str, figures: dict[str, Any]
) -> None:
    counts = figures["counts"]
    missing = figures.get("missing", 0)
    lacking = f" ({missing} missing: metrics over fewer items)" if missing else ""
    reporter.write_line(f"{name}: {figures['samples']} items{lacking}", bold=True)
    reporter.write_line(
        "  counts   " + "  ".join(f"{c}={counts[c]}" for c in COUNT_NAMES)
    )
    for metric in METRIC_NAMES:
        reporter.write_line(
            f"  {metric:<5}    {format_metric(figures['metrics'][metric])}"
            f"{_interval(figures['intervals'].get(metric))}"
        )
    for stage, stage_figures in figures.get("stages", {}).items():
        reporter.write_line(f"  stage {stage:<8} {stage_line(stage_figures)}")
    by_category = figures["errors_by_category"]
    if by_category:
        listed = ", ".join(f"{cat} {n}" for cat, n in by_category.items())
        reporter.write_line(f"  errors   {figures['errors']} ({listed})", yellow=True)
    tokens = figures["tokens"]["total"]
    if tokens:
        reporter.write_line(
            "  tokens   " + "  ".join(f"{k}={v}" for k, v in sorted(tokens.items()))
        )
    if "cost" in figures:
        reporter.write_line(f"  cost     {cost_line(figures['cost'])}")


def format_metric(value: float | None) -> str:
    """A metric as shown to people: three decimals or ``n/a``."""
    return "n/a" if value is None else f"{value:.3f}"


def _interval(interval: list[float] | None) -> str:
    if not interval:
        return ""
    return f"  [{interval[0]:.3f}, {interval[1]:.3f}]"
