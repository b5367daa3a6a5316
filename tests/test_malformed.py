"""Every unreadable dataset stops the run with exit 4, its file:line and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_aicr import cli

CORPUS = Path(__file__).parent / "data" / "malformed"
LABELS = "expected 0 (helpful), 1 (not helpful), 2 (no change needed)"
JSON_TOP = "the file must hold one JSON array of records"
AS_JSON = "expected a list or object written as JSON"
NO_RECORDS = "the dataset holds no records"
YAML_SYNTAX = "not valid YAML"

# file (or file#sheet): (line of the message, fragment of the message)
EXPECTED: dict[str, tuple[int, str]] = {
    "csv_bom_crlf_bad_label.csv": (4, f"field `is_like`: {LABELS}"),
    "csv_duplicate_header.csv": (1, "column 4 repeats the header name 'output'"),
    "csv_extra_cells.csv": (3, "but the header names 4 columns"),
    "csv_header_only.csv": (1, NO_RECORDS),
    "csv_multiline_cell_bad_label.csv": (5, "field `is_like`"),
    "csv_outputs_bad_json.csv": (2, f"field `outputs`: {AS_JSON}"),
    "csv_params_bad_json.csv": (2, f"field `params`: {AS_JSON}"),
    "csv_text_after_quote.csv": (2, "not valid CSV"),
    "csv_unclosed_quote.csv": (3, "unexpected end of data"),
    "csv_unnamed_column.csv": (1, "column 2 of the header has no name"),
    "json_field_twice.json": (3, "field `code` is given twice in one record"),
    "json_key_disagrees.json": (3, "expected the key 'b' the record is filed under"),
    "json_missing_comma.json": (3, "expected ',' or ']' after a record"),
    "json_nested_too_deep.json": (1, "nested too deeply"),
    "json_object_closed_by_bracket.json": (2, "expected ',' or '}' after a record"),
    "json_record_not_object.json": (3, "expected an object"),
    "json_scalar.json": (1, "expected '[' or '{' at the top"),
    "json_trailing_text.json": (9, "unexpected text after the end"),
    "json_unquoted_key.json": (2, "expected an input_id in double quotes"),
    "json_unterminated_array.json": (3, JSON_TOP),
    "jsonl_array_line.jsonl": (2, "expected an object"),
    "jsonl_bad_json.jsonl": (2, "not valid JSON"),
    "jsonl_blank_lines_only.jsonl": (1, NO_RECORDS),
    "jsonl_bom_crlf_bad_label.jsonl": (3, "got 'maybe'"),
    "jsonl_code_conflict.jsonl": (3, "different `code` than at"),
    "jsonl_code_not_text.jsonl": (1, "field `code`: expected text"),
    "jsonl_code_whitespace.jsonl": (2, "differ only in whitespace"),
    "jsonl_empty.jsonl": (1, NO_RECORDS),
    "jsonl_field_twice.jsonl": (2, "field `is_like` is given twice"),
    "jsonl_id_boolean.jsonl": (1, "field `input_id`"),
    "jsonl_id_float.jsonl": (1, "field `input_id`: expected a non-empty string"),
    "jsonl_id_object.jsonl": (2, "field `input_id`"),
    "jsonl_invalid_utf8_bad_json.jsonl": (2, "not valid JSON"),
    "jsonl_label_boolean.jsonl": (1, "got True"),
    "jsonl_label_out_of_range.jsonl": (2, "got 5"),
    "jsonl_language_number.jsonl": (1, "field `language`: expected text"),
    "jsonl_missing_code.jsonl": (1, "field `code`: expected a value"),
    "jsonl_missing_input_id.jsonl": (2, "fields: {input_id: <your column>}"),
    "jsonl_missing_is_like.jsonl": (1, "field `is_like`"),
    "jsonl_models_unknown_stage.jsonl": (1, "field `models`"),
    "jsonl_output_blank.jsonl": (3, "field `output`"),
    "jsonl_outputs_entry_scalar.jsonl": (1, "field `outputs[1]`"),
    "jsonl_outputs_text.jsonl": (1, "`outputs`: expected a list of {output, is_like}"),
    "jsonl_outputs_object.jsonl": (1, "field `outputs`: expected a list"),
    "jsonl_params_not_object.jsonl": (1, "field `params`"),
    "jsonl_priority_disagrees.jsonl": (2, "expected 1 as at"),
    "jsonl_priority_nan.jsonl": (1, "field `priority`: expected a finite number"),
    "jsonl_priority_text.jsonl": (1, "field `priority`"),
    "xlsx_bad_label.xlsx": (3, "(sheet 'Labels'): field `is_like`"),
    "xlsx_bad_label.xlsx#Missing": (1, "no sheet 'Missing' in the workbook"),
    "xlsx_damaged_sheet.xlsx": (1, "not a readable .xlsx workbook (ParseError)"),
    "xlsx_duplicate_header.xlsx": (1, "repeats the header name 'code'"),
    "xlsx_extra_cells.xlsx": (2, "but the header names 4 columns"),
    "xlsx_missing_code.xlsx": (3, "field `code`"),
    "xlsx_not_a_workbook.xlsx": (1, "not a readable .xlsx workbook"),
    "yaml_alias.yaml": (5, "a YAML alias"),
    "yaml_bad_indent.yaml": (3, YAML_SYNTAX),
    "yaml_bad_label.yml": (1, "field `outputs[0].is_like`"),
    "yaml_field_twice.yaml": (6, "field `is_like` is given twice"),
    "yaml_record_is_list.yaml": (4, "expected an object"),
    "yaml_scalar.yaml": (1, "found a single value"),
    "yaml_tab_indent.yaml": (2, YAML_SYNTAX),
}


def test_corpus_is_complete() -> None:
    on_disk = {path.name for path in CORPUS.iterdir()}
    named = {name.split("#")[0] for name in EXPECTED}
    assert on_disk == named
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_dataset_is_a_usage_error(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    line, fragment = EXPECTED[name]
    path = CORPUS / name
    file = name.split("#")[0]

    outcome = pytester.runpytest(f"--aicr-dataset={path}", "-p", "no:xdist")
    output = outcome.stdout.str() + outcome.stderr.str()
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR, output
    assert f"{file}:{line}" in output
    assert fragment in output
    assert "Traceback" not in output
    message = next(text for text in output.splitlines() if f"{file}:{line}" in text)
    assert "; " in message  # what is wrong; what to do

    capsys.readouterr()
    assert cli.main(["validate", str(path)]) == cli.USAGE_ERROR
    assert message.split(f"{file}:{line}", 1)[1] in capsys.readouterr().err
