"""``aicr convert IN OUT``: write a dataset in another format, same evaluation.

The input is read exactly as a run reads it (field map and label map applied);
the output uses the design's field names. Formats that nest (``.jsonl``,
``.json``, ``.yaml``) get the grouped form; tables (``.csv``, ``.xlsx``) get the
row form, one rated comment per row, with ``models`` and ``params`` as JSON text,
comment metadata in ``output.<name>`` columns and a sample without rated comments
as one row with ``outputs`` set to ``[]``. Tables hold text only, so integer ids
and numeric metadata come back as their text.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.atomic import write_output
from pytest_aicr.configfile import add_config_argument, dataset_maps
from pytest_aicr.dataset import COMMENT_PREFIX, Sample, load_samples
from pytest_aicr.errors import DatasetError
from pytest_aicr.readers import SUPPORTED_SUFFIXES, split_sheet

XLSX_CELL_LIMIT = 32_767
"""Excel refuses to open a workbook with a longer cell."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aicr convert``."""
    parser.add_argument("source", type=Path, metavar="IN")
    parser.add_argument("target", type=Path, metavar="OUT")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Read IN, write OUT; 0 on success."""
    writer = _WRITERS.get(args.target.suffix.lower())
    if writer is None:
        raise DatasetError(
            f"{args.target}: cannot write {args.target.suffix!r}; "
            f"name the output with one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if split_sheet(args.source)[0].resolve() == args.target.resolve():
        raise DatasetError(f"{args.target}: the output would overwrite the input")
    field_map, labels = dataset_maps(args.config)
    samples = load_samples(args.source, field_map, labels)
    write_output(args.target, writer(args.target, samples))
    sys.stdout.write(f"{args.target}: {len(samples)} samples written\n")
    flagged = sum(sample.flagged for sample in samples)
    if flagged:
        sys.stdout.write(
            f"{args.target}: {flagged} samples held bytes that are not UTF-8; "
            "they are written with U+FFFD in their place\n"
        )
    return 0


def grouped_record(sample: Sample) -> dict[str, Any]:
    """A sample in grouped form, with only the fields that carry something."""
    record: dict[str, Any] = {"input_id": sample.input_id, "code": sample.code}
    optional = {
        "language": sample.language,
        "file": sample.file,
        "models": dict(sample.models),
        "params": {stage: dict(p) for stage, p in sample.params.items()},
        "priority": sample.priority,
    }
    record.update((name, value) for name, value in optional.items() if value)
    record.update(sample.extra)
    record["outputs"] = [
        {"output": c.text, "is_like": c.label, **c.extra} for c in sample.comments
    ]
    return record


def table_rows(samples: Iterable[Sample]) -> list[dict[str, str]]:
    """Samples in row form, every value as the text a table cell holds."""
    rows: list[dict[str, str]] = []
    for sample in samples:
        record = grouped_record(sample)
        outputs = record.pop("outputs")
        base = {name: _cell(value) for name, value in record.items()}
        if not outputs:
            rows.append({**base, "outputs": "[]"})
        for entry in outputs:
            row = {
                **base,
                "output": entry.pop("output"),
                "is_like": str(entry.pop("is_like")),
            }
            row.update((COMMENT_PREFIX + k, _cell(v)) for k, v in entry.items())
            rows.append(row)
    return rows


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _header(rows: Sequence[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(name for row in rows for name in row))


def _render_jsonl(path: Path, samples: Sequence[Sample]) -> bytes:
    lines = (json.dumps(grouped_record(s), ensure_ascii=False) + "\n" for s in samples)
    return "".join(lines).encode("utf-8")


def _render_json(path: Path, samples: Sequence[Sample]) -> bytes:
    records = [grouped_record(sample) for sample in samples]
    text = json.dumps(records, ensure_ascii=False, indent=1)
    return (text + "\n").encode("utf-8")


def _render_yaml(path: Path, samples: Sequence[Sample]) -> bytes:
    import yaml

    # multi-line text as literal blocks, which YAML keeps byte for byte
    dumper: Any = type("_Dumper", (yaml.SafeDumper,), {})

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    dumper.add_representer(str, text)
    records = [grouped_record(sample) for sample in samples]
    dumped: str = yaml.dump(
        records, Dumper=dumper, allow_unicode=True, sort_keys=False, width=2**30
    )
    return dumped.encode("utf-8")


def _render_csv(path: Path, samples: Sequence[Sample]) -> bytes:
    rows = table_rows(samples)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=_header(rows))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _render_xlsx(path: Path, samples: Sequence[Sample]) -> bytes:
    from pytest_aicr.xlsx import xlsx_bytes

    rows = table_rows(samples)
    header = _header(rows)
    for row in rows:
        longest = max(len(value) for value in row.values())
        if longest > XLSX_CELL_LIMIT:
            raise DatasetError(
                f"{path}: input_id {row['input_id']!r} has a value of {longest} "
                f"characters, more than an .xlsx cell holds ({XLSX_CELL_LIMIT}); "
                "convert to .jsonl instead"
            )
    return xlsx_bytes(
        path, header, [[row.get(name, "") for name in header] for row in rows]
    )


_WRITERS: dict[str, Callable[[Path, Sequence[Sample]], bytes]] = {
    ".jsonl": _render_jsonl,
    ".json": _render_json,
    ".yaml": _render_yaml,
    ".yml": _render_yaml,
    ".csv": _render_csv,
    ".xlsx": _render_xlsx,
}
