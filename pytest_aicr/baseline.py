"""Regression gates: a candidate run against a stored baseline results file.

Works on plain results data (``{"variants": ..., "samples": ...}``), so it serves
a pytest run, two variants of one run, and any results file alike. Variants pair
by name; when each side has exactly one variant they pair whatever their names.
Besides the verdicts, a comparison lists the samples whose outcome flipped and a
paired significance figure: exact McNemar on per-sample correctness, and a paired
bootstrap interval of each gated metric's change.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aicr.gates import GateVerdict, parse_metric_number
from pytest_aicr.metrics import metric_columns, percentile_interval
from pytest_aicr.outcome import COUNT_NAMES, Counts

_RESAMPLES = 1000
_FLIPS_SHOWN = 20


@dataclass(frozen=True)
class DropRule:
    """``METRIC=DELTA``: a metric may fall at most DELTA below its baseline."""

    metric: str
    delta: float

    @property
    def text(self) -> str:
        """The rule as written on the command line."""
        return f"{self.metric} drop<={self.delta:g}"


@dataclass
class Comparison:
    """One candidate variant against its baseline counterpart."""

    candidate: str
    baseline: str | None
    verdicts: list[GateVerdict] = field(default_factory=list)
    flips: list[tuple[str, str, str]] = field(default_factory=list)
    mcnemar_p: float | None = None
    deltas: dict[str, list[float] | None] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """The comparison as stored in results."""
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "flips": [
                {"input_id": i, "baseline": b, "candidate": c} for i, b, c in self.flips
            ],
            "flip_kinds": dict(flip_kinds(self.flips)),
            "mcnemar_p": self.mcnemar_p,
            "delta_intervals": self.deltas,
        }


def parse_max_drop(text: str) -> DropRule:
    """Parse ``METRIC=DELTA`` or raise a :class:`ConfigError` saying what is wrong."""
    metric, delta = parse_metric_number(text, "max-drop", "METRIC=DELTA", "f1=0.02")
    return DropRule(metric, delta)


def pair_variants(
    baseline: Sequence[str], candidate: Sequence[str]
) -> list[tuple[str, str | None]]:
    """Each candidate with its baseline counterpart, or ``None`` when it has none."""
    if len(baseline) == 1 and len(candidate) == 1:
        return [(candidate[0], baseline[0])]
    return [(name, name if name in baseline else None) for name in candidate]


def compare_runs(
    rules: Sequence[DropRule],
    baseline: Mapping[str, Any],
    candidate: Mapping[str, Any],
    where: str,
) -> list[Comparison]:
    """Compare every candidate variant with its counterpart in ``baseline``."""
    comparisons = []
    for name, counterpart in pair_variants(
        list(baseline["variants"]), list(candidate["variants"])
    ):
        if counterpart is None:
            message = (
                f"{name} has no counterpart in the baseline {where} (its variants: "
                f"{', '.join(baseline['variants']) or 'none'})"
            )
            verdicts = [GateVerdict(rule.text, name, False, message) for rule in rules]
            if not rules:
                verdicts = [GateVerdict("baseline", name, False, message)]
            comparisons.append(Comparison(name, None, verdicts))
            continue
        comparisons.append(
            compare_variant(rules, (counterpart, baseline), (name, candidate))
        )
    return comparisons


def compare_variant(
    rules: Sequence[DropRule],
    baseline: tuple[str, Mapping[str, Any]],
    candidate: tuple[str, Mapping[str, Any]],
) -> Comparison:
    """Gate one candidate variant against one baseline variant; list its flips."""
    (base_name, base_run), (name, run) = baseline, candidate
    base_metrics = base_run["variants"][base_name]["metrics"]
    metrics = run["variants"][name]["metrics"]
    comparison = Comparison(name, base_name)
    for rule in rules:
        comparison.verdicts.append(
            _verdict(
                rule, name, base_metrics.get(rule.metric), metrics.get(rule.metric)
            )
        )
    pairs = _paired_samples(_samples_of(base_run, base_name), _samples_of(run, name))
    comparison.flips = [
        (key, _label(b), _label(c)) for key, b, c in pairs if _label(b) != _label(c)
    ]
    comparison.mcnemar_p = mcnemar_p(pairs)
    comparison.deltas = _delta_intervals(pairs, [rule.metric for rule in rules])
    return comparison


def _verdict(
    rule: DropRule, name: str, before: float | None, after: float | None
) -> GateVerdict:
    if before is None or after is None:
        side = "baseline" if before is None else "candidate"
        message = (
            f"{rule.metric} is n/a in the {side} for {name} (its denominator is "
            f"zero), so {rule.text} cannot be checked"
        )
        return GateVerdict(rule.text, name, False, message)
    delta = after - before
    passed = -delta <= rule.delta + 1e-12
    verb = "within" if passed else "exceeds"
    message = (
        f"{rule.metric} for {name}: baseline {before:.3f}, candidate {after:.3f}, "
        f"delta {delta:+.3f} ({verb} the allowed drop {rule.delta:g})"
    )
    return GateVerdict(rule.text, name, passed, message)


def _samples_of(run: Mapping[str, Any], variant: str) -> list[Mapping[str, Any]]:
    return [s for s in run.get("samples") or [] if s.get("variant") == variant]


Pair = tuple[str, Mapping[str, Any], Mapping[str, Any]]


def _paired_samples(
    baseline: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]]
) -> list[Pair]:
    """Samples present on both sides, by ``input_id`` text, in candidate order."""
    before = {str(s["input_id"]): s for s in baseline}
    return [
        (str(s["input_id"]), before[str(s["input_id"])], s)
        for s in candidate
        if str(s["input_id"]) in before
    ]


def _label(sample: Mapping[str, Any]) -> str:
    if sample.get("status") != "ok":
        return "error"
    return Counts(**sample["counts"]).label()


def _correct(sample: Mapping[str, Any]) -> bool:
    counts = sample.get("counts") or {}
    return bool(
        sample.get("status") == "ok" and not counts.get("fp") and not counts.get("fn")
    )


def mcnemar_p(pairs: Sequence[Pair]) -> float | None:
    """Exact two-sided McNemar p on per-sample correctness (no FP and no FN)."""
    worse = sum(1 for _, b, c in pairs if _correct(b) and not _correct(c))
    better = sum(1 for _, b, c in pairs if not _correct(b) and _correct(c))
    trials = worse + better
    if not pairs:
        return None
    if trials == 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(min(worse, better) + 1))
    return round(min(1.0, 2 * tail / float(2**trials)), 4)


def _delta_intervals(
    pairs: Sequence[Pair], metrics: Sequence[str], seed: int = 0
) -> dict[str, list[float] | None]:
    """95% paired-bootstrap intervals of candidate minus baseline, per metric."""
    both_ok = [
        (b, c) for _, b, c in pairs if b.get("status") == c.get("status") == "ok"
    ]
    if not both_ok or not metrics:
        return dict.fromkeys(metrics)
    tables = [
        np.array([[s["counts"][n] for n in COUNT_NAMES] for s in side], dtype=float)
        for side in zip(*both_ok, strict=True)
    ]
    picks = np.random.default_rng(seed).integers(
        0, len(both_ok), size=(_RESAMPLES, len(both_ok))
    )
    before, after = (metric_columns(t[picks].sum(axis=1)) for t in tables)
    return {m: percentile_interval(after[m] - before[m]) for m in metrics}


def flip_kinds(flips: Sequence[tuple[str, str, str]]) -> Counter[str]:
    """How many samples went from each outcome to each other, e.g. ``TP->FN``."""
    return Counter(f"{before}->{after}" for _, before, after in flips)


def comparison_lines(comparison: Comparison) -> list[str]:
    """What a person reads about one comparison: flips, significance, deltas."""
    if comparison.baseline is None:
        return []
    kinds = ", ".join(
        f"{k} {n}" for k, n in sorted(flip_kinds(comparison.flips).items())
    )
    head = (
        f"{comparison.candidate} vs baseline {comparison.baseline}: "
        f"{len(comparison.flips)} sample(s) flipped" + (f" ({kinds})" if kinds else "")
    )
    if comparison.mcnemar_p is not None:
        head += f"; McNemar p={comparison.mcnemar_p:.3g}"
    lines = [head]
    for metric, interval in comparison.deltas.items():
        if interval is not None:
            lines.append(
                f"  {metric} change, paired bootstrap 95%: "
                f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"
            )
    for input_id, before, after in comparison.flips[:_FLIPS_SHOWN]:
        lines.append(f"  flipped {input_id!r}: {before} -> {after}")
    if len(comparison.flips) > _FLIPS_SHOWN:
        lines.append(f"  ... and {len(comparison.flips) - _FLIPS_SHOWN} more")
    return lines
