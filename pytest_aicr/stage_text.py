"""Short texts for per-stage figures and costs, shared by the terminal and reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHANGE_WORDS = {
    "tp_lost": "TP lost",
    "tp_gained": "TP gained",
    "fp_removed": "FP removed",
    "fp_added": "FP added",
}


def metric_text(value: float | None, interval: list[float] | None = None) -> str:
    """``0.667 [0.400, 0.900]``, or ``n/a`` when undefined."""
    if value is None:
        return "n/a"
    if not interval:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def changes_text(changes: Mapping[str, int] | None) -> str:
    """``1 TP lost, 2 FP removed``; every count is shown, zeros too."""
    if changes is None:
        return ""
    return ", ".join(
        f"{changes.get(name, 0)} {word}" for name, word in CHANGE_WORDS.items()
    )


def stage_line(figures: Mapping[str, Any]) -> str:
    """Precision, recall and F1 with intervals, then what the stage changed."""
    metrics, intervals = figures["metrics"], figures.get("intervals") or {}
    shown = "  ".join(
        f"{m}={metric_text(metrics[m], intervals.get(m))}" for m in ("pre", "rec", "f1")
    )
    changes = changes_text(figures.get("changes"))
    return f"{shown}  ({changes})" if changes else shown


def money(value: float | None) -> str:
    """Dollars with enough digits for small amounts, or ``n/a``."""
    return "n/a" if value is None else f"${value:.4f}"


def cost_line(cost: Mapping[str, Any]) -> str:
    """Total, per true positive and per stage; names models that have no price."""
    stages = ", ".join(f"{s} {money(v)}" for s, v in cost["stages"].items())
    text = f"{money(cost['total'])} total, {money(cost['per_tp'])} per TP"
    if stages:
        text += f" ({stages})"
    if cost["unpriced"]:
        text += f"; no price for {', '.join(cost['unpriced'])}"
    return text
