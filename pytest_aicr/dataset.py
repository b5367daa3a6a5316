"""Samples: rated review comments grouped by ``input_id``, built from raw rows.

A dataset holds rows in *row form* (one rated comment per row) or *grouped form*
(one row per sample with ``outputs: [...]``). Rows sharing an ``input_id`` make one
:class:`Sample`; its class decides how predictions are scored (DESIGN section 8).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from pytest_aicr.errors import DatasetError
from pytest_aicr.fieldmap import FIELD_NAMES, FieldMap, checked_label_map
from pytest_aicr.readers import SUPPORTED_SUFFIXES, RawRow, read_rows, split_sheet
from pytest_aicr.rules import infer_language

SampleClass = Literal["positive", "negative", "optimizable"]

HELPFUL, NOT_HELPFUL, NO_CHANGE = 0, 1, 2
_LABEL_WORDS = {"helpful": HELPFUL, "not_helpful": NOT_HELPFUL, "no_change": NO_CHANGE}
STAGES = ("check", "reflect", "review")
COMMENT_PREFIX = "output."
"""Row-form columns named ``output.<name>`` hold metadata of that row's comment."""
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.MULTILINE)
_KNOWN_FIELDS = frozenset(FIELD_NAMES)
RESERVED_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "timeout",
    }
)
"""Request fields the client sets itself; a ``params`` entry may not name them."""
_SAMPLE_SETTINGS = ("language", "file", "models", "params", "priority")


@dataclass(frozen=True)
class RatedComment:
    """A comment people rated: its text, label and any extra fields."""

    text: str
    label: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One code change with every human-rated comment made on it."""

    input_id: str | int | float
    code: str
    comments: tuple[RatedComment, ...]
    source: Path
    line: int
    language: str | None = None
    file: str | None = None
    models: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    priority: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)
    flagged: bool = False
    duplicates: int = 0

    @property
    def key(self) -> str:
        """The ``input_id`` as text, used for grouping and hashing."""
        return str(self.input_id)

    @property
    def sample_class(self) -> SampleClass:
        """``positive``, ``negative`` or ``optimizable`` (DESIGN section 1)."""
        labels = {comment.label for comment in self.comments}
        if HELPFUL in labels:
            return "positive"
        if not labels or NOT_HELPFUL in labels:
            return "negative"
        return "optimizable"


def dataset_files(path: Path) -> list[Path]:
    """The dataset files named by one ``--aicr-dataset`` value, sorted."""
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and _is_dataset_file(p)
        )
        if not files:
            raise DatasetError(
                f"{path}: folder holds no dataset file "
                f"({', '.join(SUPPORTED_SUFFIXES)})"
            )
        return files
    if not split_sheet(path)[0].exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    return [path]


def _is_dataset_file(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith(".")


def load_samples(
    path: Path,
    field_map: Mapping[str, str] | None = None,
    labels: Mapping[str, Any] | None = None,
) -> list[Sample]:
    """Read one dataset file and group its rows into samples, in file order."""
    renamer = FieldMap(field_map or {})
    label_map = checked_label_map(labels or {})
    rows: dict[str, list[RawRow]] = {}
    for raw in read_rows(path):
        fields = renamer.apply(raw)
        row = raw if fields is raw.fields else dataclasses.replace(raw, fields=fields)
        rows.setdefault(_input_id_key(row), []).append(row)
    if not rows:
        raise DatasetError(
            f"{split_sheet(path)[0]}:1: the dataset holds no records; add records "
            "(input_id, code, output, is_like) or remove the file from the run"
        )
    return [build_sample(group, label_map) for group in rows.values()]


def _input_id_key(row: RawRow) -> str:
    input_id = _required(row, "input_id")
    if isinstance(input_id, str) and input_id.strip():
        return input_id
    if isinstance(input_id, int) and not isinstance(input_id, bool):
        return str(input_id)
    _fail(row, "input_id", "a non-empty string or an integer", input_id)


def build_sample(rows: Sequence[RawRow], labels: Mapping[str, int]) -> Sample:
    """One sample from the rows that share an ``input_id``.

    Unknown fields with one value on every row describe the sample (``extra``);
    the rest, and columns named ``output.<name>``, describe that row's comments.
    A rated comment repeated with the same text, label and fields counts once.
    """
    first = rows[0]
    code = _required(first, "code")
    if not isinstance(code, str) or not code.strip():
        _fail(first, "code", "text (the diff or snippet under review)", code)
    for row in rows[1:]:
        _same_code(first, row, code)
        _same_settings(first, row)
    shared = _shared_extras(rows)
    comments: list[RatedComment] = []
    for row in rows:
        comments.extend(_comments_of(row, _own_extras(row, shared), labels))
    unique = _unique(comments)
    file = _optional_text(first, "file") or _diff_path(code)
    return Sample(
        input_id=first.fields["input_id"],
        code=code,
        comments=tuple(unique),
        source=first.path,
        line=first.line,
        language=_optional_text(first, "language") or infer_language(code, file),
        file=file,
        models=_stage_mapping(first, "models", str),
        params=_stage_mapping(first, "params", dict),
        priority=_priority(first),
        extra=shared,
        flagged=any(row.flagged for row in rows),
        duplicates=len(comments) - len(unique),
    )


def _unique(comments: list[RatedComment]) -> list[RatedComment]:
    """Comments in order, each equal one (text, label, fields) kept once."""
    kept: list[RatedComment] = []
    by_text: dict[tuple[str, int], list[RatedComment]] = {}
    for comment in comments:
        same = by_text.setdefault((comment.text, comment.label), [])
        if comment not in same:
            same.append(comment)
            kept.append(comment)
    return kept


def _same_code(first: RawRow, row: RawRow, code: str) -> None:
    other = row.fields.get("code")
    if other == code:
        return
    hint = ""
    if isinstance(other, str) and other.split() == code.split():
        hint = " (they differ only in whitespace)"
    raise DatasetError(
        f"{row.where}: input_id {first.fields['input_id']!r} has a different "
        f"`code` than at {first.where}{hint}; rows of one sample must carry the "
        "same change: make them equal, or give the changes different input_ids"
    )


def _same_settings(first: RawRow, row: RawRow) -> None:
    for name in _SAMPLE_SETTINGS:
        mine, theirs = first.fields.get(name), row.fields.get(name)
        if theirs not in (None, "") and mine not in (None, "") and theirs != mine:
            raise DatasetError(
                f"{row.where}: field `{name}`: expected {_shorten(repr(mine))} as at "
                f"{first.where} (rows of one sample share it), got "
                f"{_shorten(repr(theirs))}; give it once, or the same on every row"
            )


def _shared_extras(rows: Sequence[RawRow]) -> dict[str, Any]:
    first = rows[0].fields
    return {
        name: value
        for name, value in first.items()
        if name not in _KNOWN_FIELDS
        and not name.startswith(COMMENT_PREFIX)
        and all(name in r.fields and r.fields[name] == value for r in rows[1:])
    }


def _own_extras(row: RawRow, shared: Mapping[str, Any]) -> dict[str, Any]:
    own = {}
    for name, value in row.fields.items():
        if name not in _KNOWN_FIELDS and name not in shared:
            own[name.removeprefix(COMMENT_PREFIX)] = value
    return own


def _diff_path(code: str) -> str | None:
    match = _NEW_PATH.search(code)
    return None if match is None or match[1] == "/dev/null" else match[1]


def _comments_of(
    row: RawRow, own: dict[str, Any], labels: Mapping[str, int]
) -> list[RatedComment]:
    if "outputs" in row.fields:
        outputs = _json_text(row, "outputs", row.fields["outputs"])
        if not isinstance(outputs, list):
            _fail(row, "outputs", "a list of {output, is_like} objects", outputs)
        return [
            _comment(row, entry, f"outputs[{i}]", own, labels)
            for i, entry in enumerate(outputs)
        ]
    return [_comment(row, row.fields, "", own, labels)]


def _comment(
    row: RawRow,
    entry: object,
    prefix: str,
    own: dict[str, Any],
    labels: Mapping[str, int],
) -> RatedComment:
    if not isinstance(entry, dict):
        _fail(row, prefix, "an object with `output` and `is_like`", entry)
    dot = f"{prefix}." if prefix else ""
    text = entry.get("output")
    if not isinstance(text, str) or not text.strip():
        _fail(row, f"{dot}output", "the non-empty text of the rated comment", text)
    written = entry.get("is_like")
    label = labels.get(str(written).strip()) if written is not None else None
    label = parse_label(written) if label is None else label
    if label is None:
        _fail(
            row,
            f"{dot}is_like",
            "0 (helpful), 1 (not helpful), 2 (no change needed) or the words "
            "helpful, not_helpful, no_change",
            written,
            "fix the label, or map your labels in the config "
            '(labels: {"yes": 0, "no": 1})',
        )
    extra = dict(own)
    if prefix:
        extra.update((k, v) for k, v in entry.items() if k not in ("output", "is_like"))
    return RatedComment(text=text, label=label, extra=extra)


def parse_label(value: object) -> int | None:
    """Map a label as written (0/1/2, their text, or a word) to 0, 1 or 2."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1, 2):
        return value
    if isinstance(value, float) and value in (0.0, 1.0, 2.0):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("0", "1", "2"):
            return int(text)
        return _LABEL_WORDS.get(text)
    return None


def _required(row: RawRow, name: str) -> Any:
    if row.fields.get(name) is None:
        _fail(
            row,
            name,
            "a value (the field is required)",
            None,
            f"add the `{name}` field, or map your column in the config "
            f"(fields: {{{name}: <your column>}})",
        )
    return row.fields[name]


def _optional_text(row: RawRow, name: str) -> str | None:
    value = row.fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _fail(row, name, "text", value)
    return str(value)


def _json_text(row: RawRow, name: str, value: Any) -> Any:
    """Nested values arrive as JSON text from CSV and Excel cells.

    Only text that opens like JSON (``[`` or ``{``) is decoded; anything else is
    returned for the caller to refuse with the shape it expects.
    """
    if not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        _fail(row, name, f"a list or object written as JSON ({exc.msg})", value)


def _stage_mapping(row: RawRow, name: str, kind: type) -> dict[str, Any]:
    value = row.fields.get(name)
    if value is None or value == "":
        return {}
    nested = isinstance(value, dict)
    value = _json_text(row, name, value)
    example = '{"check": "m1"}' if kind is str else '{"check": {"temperature": 0}}'
    if not isinstance(value, dict) or not all(
        stage in STAGES and isinstance(v, kind) for stage, v in value.items()
    ):
        stages = ", ".join(STAGES)
        _fail(row, name, f"an object keyed by stage ({stages}), e.g. {example}", value)
    if kind is dict:
        for stage, params in value.items():
            reserved = sorted(RESERVED_PARAMS & set(params))
            if reserved:
                _fail(
                    row,
                    name,
                    f"request parameters for stage {stage!r} other than "
                    f"{', '.join(sorted(RESERVED_PARAMS))}, which the run sets itself",
                    value,
                    f"remove {', '.join(reserved)} from `{name}`",
                )
    if kind is dict and nested and not row.typed:
        return {stage: _typed_params(p) for stage, p in value.items()}
    return dict(value)


def _typed_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers and booleans written in YAML arrive as text; models need them typed."""
    typed = {}
    for name, value in params.items():
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            parsed = value
        typed[name] = parsed if isinstance(parsed, int | float | bool) else value
    return typed


def _priority(row: RawRow) -> float:
    value = row.fields.get("priority", 0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        _fail(row, "priority", "a finite number (smaller runs first)", value)
    return number


def _fail(
    row: RawRow, name: str, expected: str, got: object, todo: str = ""
) -> NoReturn:
    shown = "nothing" if got is None else _shorten(repr(got))
    todo = todo or "fix the value in that record"
    raise DatasetError(
        f"{row.where}: field `{name}`: expected {expected}, got {shown}; {todo}"
    )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
