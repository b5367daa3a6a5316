"""Readers that turn a dataset file into raw rows with their line numbers.

Each reader yields :class:`RawRow` objects and raises :class:`DatasetError` naming
``file:line`` when the file cannot be read. Values are kept as written: YAML
scalars stay text (the YAML 1.1 loader would turn ids such as ``007`` or ``yes``
into numbers or booleans), JSON numbers keep their usual text form. A sheet of a
workbook is named as ``book.xlsx#Sheet``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from pytest_aicr.errors import DatasetError

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".yaml", ".yml", ".xlsx")
TEXT_ONLY_SUFFIXES = (".csv", ".yaml", ".yml", ".xlsx")
"""Formats whose scalars are all text, so nested numbers arrive as text too."""


@dataclass(frozen=True)
class RawRow:
    """One record of a dataset file, before grouping."""

    path: Path
    line: int
    fields: dict[str, Any]
    flagged: bool = False
    sheet: str | None = None

    @property
    def where(self) -> str:
        """``file:line`` of the record (and its sheet), for messages."""
        sheet = f" (sheet {self.sheet!r})" if self.sheet is not None else ""
        return f"{self.path}:{self.line}{sheet}"

    @property
    def typed(self) -> bool:
        """True when the format has numbers and booleans of its own (JSON)."""
        return self.path.suffix.lower() not in TEXT_ONLY_SUFFIXES


def split_sheet(path: Path) -> tuple[Path, str | None]:
    """Split ``book.xlsx#Sheet`` into the file and the sheet name."""
    name = path.name
    marker = name.lower().find(".xlsx#")
    if marker < 0:
        return path, None
    return path.with_name(name[: marker + 5]), name[marker + 6 :]


def read_rows(path: Path) -> Iterator[RawRow]:
    """Yield the records of one dataset file, in file order."""
    file, sheet = split_sheet(path)
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DatasetError(
            f"{file}: unsupported dataset format {file.suffix!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read the file ({exc.strerror})") from None
    try:
        if suffix == ".xlsx":
            from pytest_aicr.xlsx import read_xlsx

            yield from read_xlsx(file, data, sheet)
            return
        text, flagged = _decode(data)
        yield from _READERS[suffix](file, text, flagged)
    except RecursionError:
        raise DatasetError(
            f"{file}:1: values are nested too deeply to read; "
            "records hold flat fields and an `outputs` list"
        ) from None


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
            f"{path}:{line}: expected an object (one sample or rated comment) with "
            f"fields such as input_id and code, got {type(value).__name__}; "
            "write each record as an object"
        )
    return value


def _read_jsonl(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "each line must hold one complete JSON object"
            ) from None
        except _RepeatedKey as repeated:
            raise repeated.error(path, number) from None
        fields = _expect_object(path, number, value)
        yield RawRow(path, number, fields, _row_flag(fields, flagged))


class _RepeatedKey(ValueError):
    """A record names a field twice; JSON and YAML loaders would keep the last."""

    def __init__(self, key: str, line: int | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.line = line

    def error(self, path: Path, line: int) -> DatasetError:
        return DatasetError(
            f"{path}:{self.line or line}: field `{self.key}` is given twice in one "
            "record; keep one of them"
        )


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        names = [name for name, _ in pairs]
        raise _RepeatedKey(next(n for n in names if names.count(n) > 1))
    return record


class _JsonCursor:
    """A position in a JSON text, with its line number kept up to date."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.position = 0
        self._line = 1
        self._counted = 0
        self._decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs)

    @property
    def line(self) -> int:
        self._line += self.text.count("\n", self._counted, self.position)
        self._counted = self.position
        return self._line

    def skip_space(self) -> str:
        """Move past whitespace; the next character, or "" at the end."""
        text, position = self.text, self.position
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        self.position = position
        return text[position : position + 1]

    def value(self) -> Any:
        try:
            value, self.position = self._decoder.raw_decode(self.text, self.position)
        except json.JSONDecodeError as exc:
            self.fail(f"not valid JSON ({exc.msg} at column {exc.colno})")
        except _RepeatedKey as repeated:
            raise repeated.error(self.path, self.line) from None
        return value

    def fail(self, problem: str) -> Any:
        raise DatasetError(
            f"{self.path}:{self.line}: {problem}; the file must hold one JSON array "
            "of records, or one object keyed by input_id"
        )


def _read_json(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    cursor = _JsonCursor(path, text)
    opener = cursor.skip_space()
    if opener == "":
        return
    if opener not in "[{":
        cursor.fail(f"expected '[' or '{{' at the top, found {opener!r}")
    closer = "]" if opener == "[" else "}"
    cursor.position += 1
    while cursor.skip_space() != closer:
        key = _json_key(cursor) if opener == "{" else None
        line = cursor.line
        fields = dict(_expect_object(path, line, cursor.value()))
        if key is not None:
            _keyed_id(path, line, fields, key)
        yield RawRow(path, line, fields, _row_flag(fields, flagged))
        after = cursor.skip_space()
        if after == ",":
            cursor.position += 1
        elif after != closer:
            cursor.fail(f"expected ',' or {closer!r} after a record, found {after!r}")
    cursor.position += 1
    if cursor.skip_space():
        cursor.fail("unexpected text after the end of the top-level value")


def _json_key(cursor: _JsonCursor) -> str:
    if cursor.skip_space() != '"':
        cursor.fail("expected an input_id in double quotes as the key")
    key = cursor.value()
    if cursor.skip_space() != ":":
        cursor.fail("expected ':' after the key")
    cursor.position += 1
    cursor.skip_space()
    return str(key)


def _keyed_id(path: Path, line: int, fields: dict[str, Any], key: str) -> None:
    """A record under a key takes the key as its input_id; a clash is an error."""
    given = fields.setdefault("input_id", key)
    if str(given) != key:
        raise DatasetError(
            f"{path}:{line}: field `input_id`: expected the key {key!r} the record "
            f"is filed under, got {given!r}; make the two agree or drop the field"
        )


def _read_csv(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    names: list[str] | None = None
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                where = f"{path}:{line}"
                if names is None:
                    names = column_names(where, [cell.strip() for cell in cells])
                else:
                    fields = row_fields(where, names, cells)
                    yield RawRow(path, line, fields, _row_flag(fields, flagged))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(
            f"{path}:{line}: not valid CSV in the record that starts here ({exc}); "
            "check the quotes around cells that hold commas or line breaks"
        ) from None


def column_names(where: str, names: list[str]) -> list[str]:
    """Check a header row: no repeated names, no nameless column with a name after."""
    while names and names[-1] == "":
        names.pop()
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name == "":
            raise DatasetError(
                f"{where}: column {number} of the header has no name; "
                "name every column (or delete the empty one)"
            )
        if name in seen:
            raise DatasetError(
                f"{where}: column {number} repeats the header name {name!r} "
                f"of column {seen[name]}; give each column its own name"
            )
        seen[name] = number
    return names


def row_fields(where: str, names: list[str], cells: list[Any]) -> dict[str, Any]:
    """Pair a row's cells with the header; empty cells are missing fields."""
    extra = [c for c in cells[len(names) :] if c not in ("", None)]
    if extra:
        raise DatasetError(
            f"{where}: {len(names) + len(extra)} or more cells but the header "
            f"names {len(names)} columns; quote cells that hold commas, "
            "or name the extra columns"
        )
    return {n: c for n, c in zip(names, cells, strict=False) if c not in ("", None)}


def _read_yaml(path: Path, text: str, flagged: bool) -> Iterator[RawRow]:
    import yaml

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError(
            f"{path}:{line}: not valid YAML ({problem}); "
            "check the indentation and quoting there"
        ) from None
    if root is None:
        return
    if isinstance(root, yaml.SequenceNode):
        entries = [(None, node) for node in root.value]
    elif isinstance(root, yaml.MappingNode):
        entries = [(key.value, node) for key, node in root.value]
    else:
        raise DatasetError(
            f"{path}:{root.start_mark.line + 1}: expected a list of records or a "
            "mapping keyed by input_id at the top, found a single value; "
            "write one record per list entry"
        )
    seen: set[int] = set()
    for key, node in entries:
        line = node.start_mark.line + 1
        try:
            value = _yaml_value(node, seen)
        except _RepeatedNode:
            _refuse_alias(path, yaml.scan(text, Loader=loader), line)
        except _RepeatedKey as repeated:
            raise repeated.error(path, line) from None
        fields = dict(_expect_object(path, line, value))
        if key is not None:
            _keyed_id(path, line, fields, str(key))
        yield RawRow(path, line, fields, _row_flag(fields, flagged))


def _refuse_alias(path: Path, tokens: Iterable[Any], line: int) -> NoReturn:
    """Aliases repeat values (and can blow a small file up); datasets write them out."""
    import yaml

    alias = next((t for t in tokens if isinstance(t, yaml.AliasToken)), None)
    if alias is not None:
        line = alias.start_mark.line + 1
    raise DatasetError(
        f"{path}:{line}: a YAML alias (*name) repeats a value; "
        "datasets do not take aliases, write the value out"
    )


class _RepeatedNode(Exception):
    """A node met twice: the mark of an alias, found again by scanning."""


def _yaml_value(node: Any, seen: set[int]) -> Any:
    """Convert a composed YAML node to Python, keeping every scalar as its text."""
    import yaml

    if id(node) in seen:
        raise _RepeatedNode
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key, value in node.value:
            name = str(_yaml_value(key, seen))
            if name in mapping:
                raise _RepeatedKey(name, key.start_mark.line + 1)
            mapping[name] = _yaml_value(value, seen)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_value(item, seen) for item in node.value]
    return node.value


_READERS: dict[str, Callable[[Path, str, bool], Iterator[RawRow]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
}
