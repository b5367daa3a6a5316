"""Per-stage figures of a variant: what the chain would score had it stopped there.

Each stage's counts, metrics and intervals come from the stage outputs stored per
item, and ``changes`` counts what a stage did to the one before it: true positives
lost or gained, false positives removed or added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aicr.evidence import CHANGE_NAMES
from pytest_aicr.metrics import bootstrap_intervals, compute_metrics
from pytest_aicr.outcome import Counts


def stage_figures(samples: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    """Figures per stage over the variant's items that ran without error."""
    per_stage: dict[str, list[Counts]] = {}
    changes: dict[str, dict[str, int]] = {}
    for sample in samples:
        for stage, entry in (sample.get("stages") or {}).items():
            per_stage.setdefault(stage, []).append(Counts(**entry["counts"]))
            slot = changes.setdefault(stage, dict.fromkeys(CHANGE_NAMES, 0))
            for name, texts in (entry.get("changes") or {}).items():
                slot[name] = slot.get(name, 0) + len(texts)
    figures: dict[str, Any] = {}
    for index, (stage, counts) in enumerate(per_stage.items()):
        total = sum(counts, Counts())
        figures[stage] = {
            "counts": total.as_dict(),
            "metrics": compute_metrics(total),
            "intervals": bootstrap_intervals(counts, seed=seed),
        }
        if index:
            figures[stage]["changes"] = changes[stage]
    return figures
