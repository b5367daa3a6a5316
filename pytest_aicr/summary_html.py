"""The summary section of the HTML report, built from results data alone.

Metric table with intervals and costs, per-stage figures, gate verdicts, baseline
comparisons, errors by category, per-key statistics and inline SVG charts. Every
value from data is escaped: ids, names and messages may hold markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from pytest_aicr.charts import bar_chart, line_chart
from pytest_aicr.metrics import METRIC_NAMES
from pytest_aicr.outcome import COUNT_NAMES
from pytest_aicr.stage_text import changes_text, metric_text, money
from pytest_aicr.thresholds import DEFAULT_THRESHOLDS, threshold_curve

STYLE = """<style>
.aicr table{border-collapse:collapse;margin:6px 0 14px}
.aicr th,.aicr td{border:1px solid #ccc;padding:2px 6px;text-align:left;
vertical-align:top;font-size:13px}
.aicr .pass{color:#17702a}.aicr .fail{color:#b00020;font-weight:bold}
.aicr-item pre{background:#f6f8fa;padding:6px;max-height:24em;overflow:auto;
white-space:pre-wrap;font-size:12px}
.aicr-item .add{background:#e6ffec}.aicr-item .del{background:#ffebe9}
.aicr-item .hunk{color:#6f42c1}.aicr-item .missed{color:#b00020}
.aicr-item .matched{color:#17702a}.aicr-item td{min-width:18em}
</style>"""


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; every cell is escaped text."""
    header = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def summary_section(data: Mapping[str, Any]) -> str:
    """The whole summary section for one run's results."""
    variants = data.get("variants") or {}
    parts = [STYLE, '<div class="aicr" id="aicr-summary">']
    parts.append("<h2>AI code review evaluation</h2>")
    parts.append(_incomplete(data))
    parts.append(_metric_table(variants))
    parts.append(_stage_tables(variants))
    parts.append(_gates(data.get("gates") or []))
    parts.append(_comparisons(data.get("comparisons") or []))
    parts.append(_errors(variants))
    parts.append(_keys(data.get("keys") or {}))
    parts.append(_charts(data))
    parts.append("</div>")
    return "".join(part for part in parts if part)


def _incomplete(data: Mapping[str, Any]) -> str:
    """A warning and the list of the items that were lost or never run."""
    if data.get("complete") is not False:
        return ""
    missing = [
        (state, entry.get("input_id"), entry.get("variant"), entry.get("nodeid"))
        for state, key in (("lost", "lost"), ("not run", "not_run"))
        for entry in data.get(key) or []
        if isinstance(entry, Mapping)
    ]
    lost = sum(row[0] == "lost" for row in missing)
    return (
        f'<p class="fail" id="aicr-incomplete">INCOMPLETE: {lost} items lost, '
        f"{len(missing) - lost} not run; the figures cover only the items scored.</p>"
        + table(["state", "input_id", "variant", "test"], missing)
    )


def _metric_table(variants: Mapping[str, Any]) -> str:
    head = ["variant", "items", "errors", *COUNT_NAMES, *METRIC_NAMES]
    head += ["tokens", "cost", "cost per TP"]
    rows = []
    for name, fig in variants.items():
        tokens = sum((fig.get("tokens") or {}).get("total", {}).values())
        rows.append(
            [name, fig["samples"], fig["errors"]]
            + [fig["counts"][c] for c in COUNT_NAMES]
            + [
                metric_text(fig["metrics"][m], (fig.get("intervals") or {}).get(m))
                for m in METRIC_NAMES
            ]
            + [tokens, *_cost_cells(fig.get("cost"))]
        )
    return "<h3>Metrics (95% bootstrap intervals)</h3>" + table(head, rows)


def _cost_cells(cost: Mapping[str, Any] | None) -> list[str]:
    """Total and per-TP cost; a dash when the config gives no prices."""
    if cost is None:
        return ["-", "-"]
    return [money(cost.get("total")), money(cost.get("per_tp"))]


def _stage_tables(variants: Mapping[str, Any]) -> str:
    rows = []
    for name, fig in variants.items():
        token_stages = (fig.get("tokens") or {}).get("stages") or {}
        cost_stages = (fig.get("cost") or {}).get("stages") or {}
        for stage, st in (fig.get("stages") or {}).items():
            intervals = st.get("intervals") or {}
            rows.append(
                [name, stage]
                + [st["counts"][c] for c in COUNT_NAMES]
                + [
                    metric_text(st["metrics"][m], intervals.get(m))
                    for m in METRIC_NAMES[1:4]
                ]
                + [
                    changes_text(st.get("changes")) or "-",
                    sum((token_stages.get(stage) or {}).values()),
                    money(cost_stages.get(stage)) if cost_stages else "-",
                ]
            )
    if not rows:
        return ""
    head = ["variant", "stage", *COUNT_NAMES, "pre", "rec", "f1", "changed"]
    head += ["tokens", "cost"]
    return "<h3>What each stage did</h3>" + table(head, rows)


def _gates(gates: Sequence[Mapping[str, Any]]) -> str:
    if not gates:
        return ""
    items = "".join(
        f'<li class="{"pass" if g["passed"] else "fail"}">'
        f"{'passed' if g['passed'] else 'FAILED'}: {escape(str(g['message']))}</li>"
        for g in gates
    )
    return f"<h3>Gates</h3><ul>{items}</ul>"


def _comparisons(comparisons: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for comp in comparisons:
        if comp.get("baseline") is None:
            continue
        p_value = comp.get("mcnemar_p")
        changes = "".join(
            f"; {escape(metric)} change, paired bootstrap 95% "
            f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"
            for metric, interval in (comp.get("delta_intervals") or {}).items()
            if interval
        )
        parts.append(
            f"<p>{escape(str(comp['candidate']))} against baseline "
            f"{escape(str(comp['baseline']))}: {len(comp['flips'])} sample(s) "
            f"flipped; exact McNemar p = {escape(str(p_value))}{changes}</p>"
        )
        rows = [[f["input_id"], f["baseline"], f["candidate"]] for f in comp["flips"]]
        if rows:
            parts.append(table(["input_id", "baseline", "candidate"], rows[:200]))
    return "<h3>Against the baseline</h3>" + "".join(parts) if parts else ""


def _errors(variants: Mapping[str, Any]) -> str:
    rows = [
        [name, category, count]
        for name, fig in variants.items()
        for category, count in (fig.get("errors_by_category") or {}).items()
    ]
    if not rows:
        return ""
    return "<h3>Errors by category</h3>" + table(["variant", "category", "items"], rows)


def _keys(keys: Mapping[str, Any]) -> str:
    """Per-key statistics (lists left out); a mapping of mappings is one table."""
    if not keys:
        return ""
    columns: list[str] = []
    for stats in keys.values():
        if isinstance(stats, Mapping):
            columns.extend(
                c for c in stats if c not in columns and not isinstance(stats[c], list)
            )
    rows = [
        [
            label,
            *(
                (stats.get(c, "") for c in columns)
                if isinstance(stats, Mapping)
                else [stats]
            ),
        ]
        for label, stats in keys.items()
    ]
    return "<h3>Keys</h3>" + table(
        ["key", *columns] if columns else ["key", "value"], rows
    )


def _charts(data: Mapping[str, Any]) -> str:
    variants = data.get("variants") or {}
    if not variants:
        return ""
    config = (data.get("run") or {}).get("config") or {}
    charts = [
        (
            "Metrics per variant (whiskers: 95% intervals)",
            bar_chart(
                "Metrics per variant",
                {name: fig["metrics"] for name, fig in variants.items()},
                {name: fig.get("intervals") or {} for name, fig in variants.items()},
                METRIC_NAMES,
            ),
        )
    ]
    for name in variants:
        samples = [s for s in data.get("samples") or [] if s.get("variant") == name]
        curve = threshold_curve(samples, str(config.get("ro_scope", "sample")))
        if any(point["f1"] is not None for point in curve):
            title = f"{name}: pre, rec, f1 as the similarity threshold moves"
            series = {m: [p[m] for p in curve] for m in ("pre", "rec", "f1")}
            marker = config.get("similarity")
            charts.append(
                (title, line_chart(title, DEFAULT_THRESHOLDS, series, marker=marker))
            )
    shown = "".join(f"<p>{escape(title)}</p>{svg}" for title, svg in charts)
    return f"<h3>Charts</h3>{shown}"
