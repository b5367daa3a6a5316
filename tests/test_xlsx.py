"""The Excel workbook: a metrics sheet and a per-item sheet, filterable, inert."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests.fakeserver import Reply, Seen, comments_reply
from tests.test_end_to_end import SAMPLES, scripted

FORMULA = '=HYPERLINK("http://127.0.0.1/","click")'


def formula_on_p1(seen: Seen) -> Reply:
    if "# P1" in seen.prompt and "final reviewer" not in seen.prompt:
        return comments_reply(FORMULA)
    return scripted(seen)


def test_workbook_has_metrics_and_items(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(formula_on_p1))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    path = pytester.path / "out" / "aicr.xlsx"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check-review",
        "--aicr-max-errors=1",
        f"--aicr-xlsx={path}",
        "-p",
        "no:xdist",
    )
    assert outcome.ret == 0, outcome.stdout.str()
    book = load_workbook(path)
    assert book.sheetnames == ["metrics", "items"]
    metrics = [list(row) for row in book["metrics"].iter_rows(values_only=True)]
    head = metrics[0]
    assert head[:4] == ["variant", "stage", "items", "errors"]
    chain = dict(zip(head, metrics[1], strict=True))
    assert (chain["variant"], chain["stage"]) == ("check-review@m", "(chain)")
    assert (chain["items"], chain["errors"], chain["tp"]) == (6, 1, 1)
    assert chain["f1 low"] is not None
    assert [row[1] for row in metrics[2:]] == ["check", "review"]
    assert book["metrics"].auto_filter.ref == "A1:AD4"

    items = [list(row) for row in book["items"].iter_rows(values_only=True)]
    assert len(items) == 7
    by_id = {row[0]: dict(zip(items[0], row, strict=True)) for row in items[1:]}
    assert by_id["J1"]["status"] == "error"
    assert by_id["J1"]["error category"] == "bad_output"
    assert by_id["P1"]["predicted"] == FORMULA
    cells = [c for row in book["items"].iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert book["items"].auto_filter.ref
