"""``aicr gate``: the plugin's gates decided on a results file, e.g. merged shards.

A CI matrix runs shards on many runners; its last job merges their results and
decides once. The rules, verdicts, messages and exit statuses are the plugin's
own (the same functions), so a gate says the same thing in both places; as in the
plugin, no gate passes on an incomplete run (items lost or not run).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.baseline import (
    Comparison,
    DropRule,
    compare_runs,
    compare_variant,
    comparison_lines,
    parse_max_drop,
)
from pytest_aicr.errors import ConfigError
from pytest_aicr.gates import GateVerdict, apply_minimums, errors_line, parse_minimum
from pytest_aicr.results import read_results_file
from pytest_aicr.summary import incomplete_lines

FAILED = 1
"""pytest's exit status when tests failed: a gate failed or too many errors."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``aicr gate RESULTS [--min M=V ...] [--baseline PATH --max-drop M=D ...]``."""
    parser.add_argument("results", type=Path, help="results file to judge")
    parser.add_argument(
        "--min",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="every variant's metric must be at least VALUE (as --aicr-min)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="PATH",
        help="results file to compare with (--aicr-baseline)",
    )
    parser.add_argument(
        "--max-drop",
        action="append",
        default=[],
        metavar="METRIC=DELTA",
        help="a metric may fall at most DELTA below the baseline (--aicr-max-drop)",
    )
    parser.add_argument(
        "--max-errors",
        type=int,
        default=0,
        metavar="N",
        help="item errors tolerated before the run fails (--aicr-max-errors)",
    )


NO_GATE_LINE = (
    "no gate given (--min METRIC=VALUE, --max-drop METRIC=DELTA with --baseline): "
    "only item errors and completeness are judged"
)


def run(args: argparse.Namespace) -> int:
    """Apply the gates, write the verdicts; exit 0 (pass), 1 (fail) or 4 (usage)."""
    if args.max_errors < 0:
        raise ConfigError("--max-errors must be 0 or more")
    rules = [parse_minimum(text) for text in args.min]
    drop_rules = [parse_max_drop(text) for text in args.max_drop]
    document = read_results_file(args.results)
    verdicts = apply_minimums(
        rules, {name: fig["metrics"] for name, fig in document["variants"].items()}
    )
    comparisons = _comparisons(drop_rules, args.baseline, document)
    verdicts += [verdict for c in comparisons for verdict in c.verdicts]
    errors = sum(int(fig.get("errors", 0)) for fig in document["variants"].values())
    lines = _report_lines(comparisons, verdicts, errors, args.max_errors)
    if not verdicts:
        lines.insert(0, NO_GATE_LINE)
    lines += incomplete_lines(document)
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    failed = any(not v.passed for v in verdicts) or errors > args.max_errors
    return FAILED if failed or document.get("complete") is False else 0


def _comparisons(
    rules: Sequence[DropRule], baseline: Path | None, candidate: Mapping[str, Any]
) -> list[Comparison]:
    """As the plugin: against the baseline file, else later variants vs the first."""
    if baseline is not None:
        return compare_runs(
            rules, read_results_file(baseline, "baseline"), candidate, str(baseline)
        )
    if not rules:
        return []
    names = list(candidate["variants"])
    if len(names) < 2:
        raise ConfigError(
            "--max-drop needs --baseline PATH (a results file), or a second "
            "variant in the results to compare with the first"
        )
    return [
        compare_variant(rules, (names[0], candidate), (name, candidate))
        for name in names[1:]
    ]


def _report_lines(
    comparisons: Sequence[Comparison],
    verdicts: Sequence[GateVerdict],
    errors: int,
    max_errors: int,
) -> list[str]:
    """The terminal summary's gate part, in its order and wording."""
    lines = [line for c in comparisons for line in comparison_lines(c)]
    lines += [f"gate passed: {v.message}" for v in verdicts if v.passed]
    lines += [f"gate FAILED: {v.message}" for v in verdicts if not v.passed]
    if errors:
        lines.append(errors_line(errors, max_errors))
    return lines
