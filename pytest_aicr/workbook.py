"""The Excel workbook of a run: a metrics sheet and a per-item sheet, filterable.

The workbook is built in memory and written whole or not at all.

openpyxl is imported only when a workbook is written. Text that would read as a
formula (``=...``) is stored as text, and the per-key statistics are left out.
Items of an incomplete run that were lost or not run are listed with that status.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.atomic import write_atomically
from pytest_aicr.metrics import METRIC_NAMES
from pytest_aicr.outcome import COUNT_NAMES, Counts

_MAX_CELL = 32_000


def write_workbook(path: Path, data: Mapping[str, Any]) -> str | None:
    """Write the workbook; return a problem instead of raising."""
    from openpyxl import Workbook

    book = Workbook()
    metrics = book.active
    assert metrics is not None
    metrics.title = "metrics"
    _fill(metrics, _metric_head(), _metric_rows(data.get("variants") or {}))
    items = [*_item_rows(data.get("samples") or []), *_missing_rows(data)]
    _fill(book.create_sheet("items"), _ITEM_HEAD, items)
    buffer = io.BytesIO()
    book.save(buffer)
    failure = write_atomically(path, buffer.getvalue())
    if failure is not None:
        return f"workbook not written to {path}: {failure}"
    return None


def _fill(sheet: Any, head: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    sheet.append(list(head))
    for row in rows:
        sheet.append([_cell_value(value) for value in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.freeze_panes = "A2"


def _cell_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:_MAX_CELL]


def _metric_head() -> list[str]:
    intervals = [f"{m} {end}" for m in METRIC_NAMES for end in ("low", "high")]
    return [
        "variant",
        "stage",
        "items",
        "errors",
        *COUNT_NAMES,
        *METRIC_NAMES,
        *intervals,
        "tokens",
        "cost",
        "cost per TP",
    ]


def _metric_rows(variants: Mapping[str, Any]) -> Iterable[list[Any]]:
    for name, fig in variants.items():
        cost = fig.get("cost") or {}
        tokens = sum((fig.get("tokens") or {}).get("total", {}).values())
        yield [
            name,
            "(chain)",
            fig["samples"],
            fig["errors"],
            *_figures(fig),
            tokens,
            cost.get("total"),
            cost.get("per_tp"),
        ]
        token_stages = (fig.get("tokens") or {}).get("stages") or {}
        for stage, st in (fig.get("stages") or {}).items():
            stage_cost = (cost.get("stages") or {}).get(stage)
            used = sum((token_stages.get(stage) or {}).values())
            yield [name, stage, None, None, *_figures(st), used, stage_cost, None]


def _figures(fig: Mapping[str, Any]) -> list[Any]:
    intervals = fig.get("intervals") or {}
    bounds: list[float | None] = []
    for metric in METRIC_NAMES:
        interval = intervals.get(metric) or [None, None]
        bounds.extend(interval)
    return [
        *(fig["counts"][c] for c in COUNT_NAMES),
        *(fig["metrics"][m] for m in METRIC_NAMES),
        *bounds,
    ]


_ITEM_HEAD = (
    "input_id",
    "variant",
    "class",
    "status",
    "outcome",
    *COUNT_NAMES,
    "error category",
    "error stage",
    "error message",
    "predicted",
    "matches",
    "source",
)


def _item_rows(samples: Sequence[Mapping[str, Any]]) -> Iterable[list[Any]]:
    for sample in samples:
        error = sample.get("error") or {}
        counts = sample.get("counts") or {}
        ok = sample.get("status") == "ok"
        yield [
            str(sample.get("input_id")),
            sample.get("variant"),
            sample.get("class"),
            sample.get("status"),
            Counts(**counts).label() if ok else "error",
            *(counts.get(c, 0) for c in COUNT_NAMES),
            error.get("category"),
            error.get("stage"),
            error.get("message"),
            "\n".join(p.get("comment", "") for p in sample.get("predicted") or []),
            "\n".join(
                f"{m['similarity']:.3f}: {m['predicted']} ~ {m['truth']}"
                for m in sample.get("matches") or []
            ),
            sample.get("source"),
        ]


def _missing_rows(data: Mapping[str, Any]) -> Iterable[list[Any]]:
    blanks = [None] * (len(_ITEM_HEAD) - 4)
    for status, key in (("lost", "lost"), ("not run", "not_run")):
        for entry in data.get(key) or []:
            yield [str(entry["input_id"]), entry["variant"], None, status, *blanks]
