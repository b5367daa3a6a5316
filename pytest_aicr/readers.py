"""Readers that turn a dataset file into raw rows with their line numbers.

Each reader yields :class:`RawRow` objects and raises :class:`DatasetError` naming
``file:line`` when the file cannot be read. Values are kept as written: YAML
scalars stay text (the YAML 1.1 loader would turn ids such as ``007`` or ``yes``
into numbers or booleans), JSON numbers keep their usual text form.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aicr.errors import DatasetError

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".yaml", ".yml")


@dataclass(frozen=True)
class RawRow:
    """One record of a dataset file, before grouping."""

    path: Path
    line: int
    fields: dict[str, Any]
    flagged: bool = False

    @property
    def where(self) -> str:
        """``file:line`` of the record, for messages."""
        return f"{self.path}:{self.line}"


def read_rows(path: Path) -> Iterator[RawRow]:
    """Yield the records of one dataset file, in file order."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(
            f"{path}: unsupported dataset format {path.suffix!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror})") from None
    text, flagged = _decode(data)
    yield from reader(path, text, flagged)


def _decode(data: bytes) -> tuple[str, bool]:
    """Decode UTF-8 (BOM allowed); invalid bytes are replaced and flagged."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _row_flag(fields: dict[str, Any], flagged: bool) -> bool:
    return flagged and "\ufffd" in json.dumps(fields, ensure_ascii=False)


def _expect_object(path: Path, line: int, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DatasetError(
            f"{path}:{line}: expected a JSON object (one sample or rated comment), "
            f"got {type(value).__name__}"
        )
    return value


def _read_jsonl(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "each line must hold one JSON object"
            ) from None
        fields = _expect_object(path, number, value)
        yield RawRow(path, number, fields, _row_flag(fields, flagged))


def _read_json(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if position >= len(text):
        return
    opener = text[position]
    if opener not in "[{":
        raise DatasetError(
            f"{path}:{_line_of(text, position)}: expected a JSON array of records or "
            "an object keyed by input_id"
        )
    position += 1
    while True:
        position = _skip_space(text, position)
        if position < len(text) and text[position] == "]}"["[{".index(opener)]:
            break
        key: str | None = None
        try:
            if opener == "{":
                key, position = decoder.raw_decode(text, position)
                position = _skip_space(text, position)
                if text[position : position + 1] != ":":
                    raise json.JSONDecodeError("expected ':'", text, position)
                position = _skip_space(text, position + 1)
            line = _line_of(text, position)
            value, position = decoder.raw_decode(text, position)
            position = _skip_space(text, position)
            if text[position : position + 1] not in (",", "]", "}"):
                raise json.JSONDecodeError("expected ',' or end", text, position)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        fields = dict(_expect_object(path, line, value))
        if key is not None:
            fields.setdefault("input_id", key)
        yield RawRow(path, line, fields, _row_flag(fields, flagged))
        if text[position] == ",":
            position += 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _read_csv(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) > len(names):
                    raise DatasetError(
                        f"{path}:{line}: {len(cells)} cells but the header names "
                        f"{len(names)} columns; quote cells that hold commas"
                    )
                fields = {n: c for n, c in zip(names, cells, strict=False) if c != ""}
                yield RawRow(path, line, fields, _row_flag(fields, flagged))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _read_yaml(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError(f"{path}:{line}: not valid YAML ({problem})") from None
    if root is None:
        return
    if isinstance(root, yaml.SequenceNode):
        entries = [(None, node) for node in root.value]
    elif isinstance(root, yaml.MappingNode):
        entries = [(_yaml_value(key), node) for key, node in root.value]
    else:
        raise DatasetError(
            f"{path}:{root.start_mark.line + 1}: expected a list of records or a "
            "mapping keyed by input_id"
        )
    for key, node in entries:
        line = node.start_mark.line + 1
        fields = dict(_expect_object(path, line, _yaml_value(node)))
        if key is not None:
            fields.setdefault("input_id", key)
        yield RawRow(path, line, fields, _row_flag(fields, flagged))


def _yaml_value(node: Any) -> Any:
    """Convert a composed YAML node to Python, keeping every scalar as its text."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return {_yaml_value(key): _yaml_value(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_value(item) for item in node.value]
    return node.value


_READERS: dict[str, Callable[[Path, str, bool], Iterator[RawRow]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
}
