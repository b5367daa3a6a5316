"""Aggregating item records into the run's results, and writing them as JSON."""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pytest_aicr
from pytest_aicr.atomic import write_atomically
from pytest_aicr.baseline import Comparison
from pytest_aicr.cost import variant_cost
from pytest_aicr.gates import GateVerdict
from pytest_aicr.ledger import LOST, NOT_RUN, missing_by_variant
from pytest_aicr.metrics import bootstrap_intervals, compute_metrics
from pytest_aicr.options import Settings
from pytest_aicr.outcome import COUNT_NAMES, Counts
from pytest_aicr.stages import stage_figures
from pytest_aicr.variants import Variant

SCHEMA_VERSION = 1
VerdictFn = Callable[[Mapping[str, Mapping[str, float | None]]], list[GateVerdict]]


@dataclass
class RunSummary:
    """Everything a run reports: per-variant figures, samples, gates."""

    variants: dict[str, dict[str, Any]]
    samples: list[dict[str, Any]]
    gates: list[GateVerdict]
    run: dict[str, Any]
    wall_time: float
    failed_gates: list[GateVerdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    not_run: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        """Every planned item was scored: no item lost, none left unrun."""
        return not (self.lost or self.not_run or self.interrupted)

    def record_gaps(
        self, gaps: Mapping[str, list[dict[str, Any]]], *, interrupted: bool
    ) -> None:
        """Note the items lost or not run, and how many each variant lacks."""
        self.lost = list(gaps.get(LOST, []))
        self.not_run = list(gaps.get(NOT_RUN, []))
        self.interrupted = interrupted
        missing = missing_by_variant(gaps)
        for name, figures in self.variants.items():
            figures["missing"] = missing.get(name, 0)

    @property
    def error_count(self) -> int:
        """Items that ended in an error, over all variants."""
        return sum(v["errors"] for v in self.variants.values())

    def as_json(self) -> dict[str, Any]:
        """The results file's content (DESIGN section 10)."""
        return {
            "schema": SCHEMA_VERSION,
            "complete": self.complete,
            "lost": self.lost,
            "not_run": self.not_run,
            "variants": self.variants,
            "samples": self.samples,
            "gates": [verdict.as_record() for verdict in self.gates],
            "keys": self.keys,
            "run": self.run,
            "comparisons": [c.as_record() for c in self.comparisons],
        }


def build_summary(
    records: Sequence[Mapping[str, Any]],
    variants: Sequence[Variant],
    *,
    verdicts: VerdictFn,
    settings: Settings,
    wall_time: float,
) -> RunSummary:
    """Sum counts per variant, compute metrics and intervals, apply the gates."""
    ordered = sorted(records, key=lambda record: tuple(record.get("order", ())))
    samples = [_sample_entry(record) for record in ordered]
    figures = {
        variant.name: variant_figures(
            [s for s in samples if s["variant"] == variant.name], settings.seed
        )
        for variant in variants
    }
    if settings.prices:
        for variant in variants:
            figure = figures[variant.name]
            figure["cost"] = variant_cost(
                figure["tokens"]["stages"],
                variant.models,
                settings.prices,
                figure["counts"]["tp"],
            )
    gate_verdicts = verdicts({name: fig["metrics"] for name, fig in figures.items()})
    return RunSummary(
        variants=figures,
        samples=samples,
        gates=gate_verdicts,
        run=_run_info(variants, settings),
        wall_time=wall_time,
        failed_gates=[verdict for verdict in gate_verdicts if not verdict.passed],
    )


def _sample_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "input_id",
        "variant",
        "class",
        "counts",
        "status",
        "error",
        "predicted",
        "matches",
        "stages",
        "usage",
        "similarities",
        "source",
        "nodeid",
        "metadata",
        "flagged",
    )
    return {name: record.get(name) for name in keep}


def variant_figures(samples: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    """Counts, metrics, intervals, errors, per-stage figures and tokens of a variant."""
    ok = [s for s in samples if s["status"] == "ok"]
    per_sample = [Counts(**s["counts"]) for s in ok]
    counts = sum(per_sample, Counts())
    errors = Counter(s["error"]["category"] for s in samples if s["status"] == "error")
    return {
        "counts": counts.as_dict(),
        "metrics": compute_metrics(counts),
        "intervals": bootstrap_intervals(per_sample, seed=seed),
        "samples": len(samples),
        "errors": sum(errors.values()),
        "errors_by_category": dict(sorted(errors.items())),
        "stages": stage_figures(ok, seed),
        "tokens": _token_totals(ok),
    }


def _token_totals(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    per_stage: dict[str, dict[str, int]] = {}
    for sample in samples:
        for stage, usage in (sample.get("usage") or {}).items():
            slot = per_stage.setdefault(stage, {})
            for name, count in usage.items():
                slot[name] = slot.get(name, 0) + int(count)
    total: dict[str, int] = {}
    for usage in per_stage.values():
        for name, count in usage.items():
            total[name] = total.get(name, 0) + count
    return {"total": total, "stages": per_stage}


def _run_info(variants: Sequence[Variant], settings: Settings) -> dict[str, Any]:
    return {
        "versions": {
            "pytest_aicr": pytest_aicr.__version__,
            "pytest": pytest.__version__,
            "python": platform.python_version(),
        },
        "prompt_hashes": {v.name: v.prompt_hashes() for v in variants},
        "variants": {
            v.name: {"strategy": v.strategy, "models": dict(v.models)} for v in variants
        },
        "config": {
            "datasets": [str(path) for path in settings.datasets],
            "similarity": settings.similarity,
            "ro_scope": settings.ro_scope,
            "pos_neg_ratio": settings.pos_neg_ratio,
            "limit": settings.limit,
            "seed": settings.seed,
            "shard": list(settings.shard) if settings.shard else None,
            "min": list(settings.minimums),
            "max_drop": list(settings.max_drops),
            "baseline": str(settings.baseline) if settings.baseline else None,
            "prices": {model: dict(p) for model, p in settings.prices.items()},
            "max_errors": settings.max_errors,
        },
    }


def write_run_files(summary: RunSummary, settings: Settings) -> list[str]:
    """Write the results JSON and the workbook asked for; return what failed.

    Each file is written whole or not at all, and one failing does not stop the other.
    """
    problems: list[str] = []
    if settings.results is not None:
        problem = write_json(settings.results, summary.as_json())
        if problem is not None:
            problems.append(problem)
    if settings.xlsx is not None:
        from pytest_aicr.workbook import write_workbook

        problem = write_workbook(settings.xlsx, summary.as_json())
        if problem is not None:
            problems.append(problem)
    return problems


def write_json(path: Path, data: Mapping[str, Any]) -> str | None:
    """Write JSON whole or not at all; return a problem or None."""
    failure = write_atomically(path, results_bytes(data))
    if failure is not None:
        return f"results not written to {path}: {failure}"
    return None


def results_bytes(data: Mapping[str, Any]) -> bytes:
    """The results file's bytes: indented JSON, UTF-8, a final newline."""
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return (text + "\n").encode("utf-8")


def read_results_file(path: Path, role: str = "") -> dict[str, Any]:
    """Load a results file, or raise a usage problem saying what is wrong with it.

    ``role`` (``"baseline"``) starts each message, so the user knows which file it is.
    """
    from pytest_aicr.errors import UsageProblem

    where = f"{role} {path}" if role else str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageProblem(f"{where}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"{where}: not a JSON results file (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(
            f"{where}:{exc.lineno}: not a JSON results file ({exc.msg})"
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("schema") != SCHEMA_VERSION
        or not isinstance(data.get("variants"), dict)
    ):
        raise UsageProblem(
            f'{where}: not a pytest-aicr results file (expected "schema": 1 and '
            '"variants"); write one with --aicr-results'
        )
    damage = _damage(data)
    if damage is not None:
        raise UsageProblem(
            f"{where}: a damaged results file ({damage}); write it again with "
            "--aicr-results or aicr merge"
        )
    return data


def _damage(data: Mapping[str, Any]) -> str | None:
    """What in a results file's structure its readers could not use, or None."""
    for name, figures in data["variants"].items():
        metrics = figures.get("metrics") if isinstance(figures, dict) else None
        if not isinstance(metrics, dict):
            return f'variant {name!r} has no "metrics" object'
    samples = data.get("samples", [])
    if not isinstance(samples, list):
        return '"samples" is not a list'
    for index, sample in enumerate(samples):
        problem = _sample_damage(sample)
        if problem is not None:
            return f"sample {index}: {problem}"
    run = data.get("run", {})
    if not isinstance(run, dict) or not isinstance(run.get("config", {}), dict):
        return '"run" is not an object with a "config" object'
    return None


def _sample_damage(sample: Any) -> str | None:
    if not isinstance(sample, dict):
        return "not an object"
    for name in ("input_id", "variant", "status"):
        if sample.get(name) is None:
            return f'no "{name}"'
    counts = sample.get("counts")
    if sample["status"] == "ok" and not (
        isinstance(counts, dict)
        and set(counts) <= set(COUNT_NAMES)
        and all(isinstance(v, int) for v in counts.values())
    ):
        return '"counts" is not an object of whole numbers'
    if sample["status"] == "error" and not isinstance(sample.get("error"), dict):
        return '"error" is not an object'
    for name in ("predicted", "matches"):
        listed = sample.get(name) or []
        if not (isinstance(listed, list) and all(isinstance(e, dict) for e in listed)):
            return f'"{name}" is not a list of objects'
    return None
