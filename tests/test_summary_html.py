"""The report's summary section from results data: complete and inert."""

from __future__ import annotations

from typing import Any

from pytest_aicr.summary_html import summary_section
from tests.test_report_html import assert_inert

EVIL = "<img src=x onerror=alert(1)></td>"


def results() -> dict[str, Any]:
    figures = {
        "counts": {"tp": 1, "fp": 1, "fn": 0, "tn": 0, "ro": 0},
        "metrics": dict.fromkeys(("acc", "pre", "rec", "f1", "vacc", "vrec"), 0.5),
        "intervals": {"f1": [0.25, 0.75]},
        "samples": 2,
        "errors": 1,
        "errors_by_category": {"bad_output": 1},
        "stages": {},
        "tokens": {"total": {"prompt_tokens": 7}, "stages": {}},
        "cost": {"total": 0.25, "per_tp": 0.25, "stages": {}, "unpriced": []},
    }
    return {
        "variants": {EVIL: figures},
        "samples": [],
        "gates": [{"rule": "f1", "variant": EVIL, "passed": False, "message": EVIL}],
        "comparisons": [
            {
                "candidate": EVIL,
                "baseline": EVIL,
                "flips": [{"input_id": EVIL, "baseline": "TP", "candidate": "FN"}],
                "mcnemar_p": 1.0,
                "delta_intervals": {"f1": [-0.2, 0.05]},
            }
        ],
        "keys": {"...wxyz": {"requests": 3, "waited": EVIL}, "key#2": 5},
        "run": {"config": {"similarity": 0.6, "ro_scope": "sample"}},
    }


def test_summary_shows_everything_as_text() -> None:
    section = summary_section(results())
    found = assert_inert(section)
    text = " ".join(found.text)
    assert text.count(EVIL) >= 5
    assert "0.500 [0.250, 0.750]" in text
    assert "$0.2500" in text
    assert "FAILED" in text
    assert "f1 change, paired bootstrap 95% [-0.200, +0.050]" in text
    assert "bad_output" in text
    for shown in ("...wxyz", "requests", "key#2"):
        assert shown in text
    assert section.count('<svg class="aicr-chart"') == 1


def test_empty_keys_render_nothing() -> None:
    data = results()
    data["keys"] = {}
    assert "<h3>Keys</h3>" not in summary_section(data)
