"""Samples: rated review comments grouped by ``input_id``, and how they are chosen.

A dataset holds rows in *row form* (one rated comment per row) or *grouped form*
(one row per sample with ``outputs: [...]``). Rows sharing an ``input_id`` make one
:class:`Sample`; its class decides how predictions are scored (DESIGN section 8).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from pytest_aicr.errors import DatasetError
from pytest_aicr.readers import SUPPORTED_SUFFIXES, RawRow, read_rows
from pytest_aicr.rules import infer_language

SampleClass = Literal["positive", "negative", "optimizable"]

HELPFUL, NOT_HELPFUL, NO_CHANGE = 0, 1, 2
_LABEL_WORDS = {"helpful": HELPFUL, "not_helpful": NOT_HELPFUL, "no_change": NO_CHANGE}
_KNOWN_FIELDS = frozenset(
    {"input_id", "code", "output", "is_like", "outputs", "language", "file"}
    | {"models", "params", "priority"}
)


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
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    return [path]


def _is_dataset_file(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith(".")


def load_samples(
    path: Path, field_map: Mapping[str, str] | None = None
) -> list[Sample]:
    """Read one dataset file and group its rows into samples, in file order."""
    rows: dict[str, list[RawRow]] = {}
    for row in read_rows(path):
        fields = _rename(row.fields, field_map or {})
        row = RawRow(row.path, row.line, fields, row.flagged)
        input_id = _required(row, "input_id")
        if isinstance(input_id, dict | list | bool) or input_id == "":
            _fail(row, "input_id", "a non-empty string or integer", input_id)
        rows.setdefault(str(input_id), []).append(row)
    return [_build_sample(group) for group in rows.values()]


def _rename(fields: Mapping[str, Any], field_map: Mapping[str, str]) -> dict[str, Any]:
    """Apply a field map ``{our_name: their_name}`` to one record."""
    if not field_map:
        return dict(fields)
    theirs_to_ours = {theirs: ours for ours, theirs in field_map.items()}
    return {theirs_to_ours.get(name, name): value for name, value in fields.items()}


def _build_sample(rows: Sequence[RawRow]) -> Sample:
    first = rows[0]
    code = _required(first, "code")
    if not isinstance(code, str):
        _fail(first, "code", "text (the diff or snippet under review)", code)
    comments: list[RatedComment] = []
    for row in rows:
        if row.fields.get("code") != code:
            raise DatasetError(
                f"{row.where}: input_id {first.fields['input_id']!r} has a different "
                f"`code` than at {first.where}; rows of one sample must carry the "
                "same change (give the changes different input_ids)"
            )
        comments.extend(_comments_of(row))
    language = _optional_text(first, "language")
    file = _optional_text(first, "file")
    extra = {k: v for k, v in first.fields.items() if k not in _KNOWN_FIELDS}
    return Sample(
        input_id=first.fields["input_id"],
        code=code,
        comments=tuple(comments),
        source=first.path,
        line=first.line,
        language=language or infer_language(code, file),
        file=file,
        models=_stage_mapping(first, "models"),
        params=_stage_mapping(first, "params"),
        priority=_priority(first),
        extra=extra,
        flagged=any(row.flagged for row in rows),
    )


def _comments_of(row: RawRow) -> list[RatedComment]:
    if "outputs" in row.fields:
        outputs = row.fields["outputs"]
        if not isinstance(outputs, list):
            _fail(row, "outputs", "a list of {output, is_like} objects", outputs)
        return [
            _comment(row, entry, f"outputs[{i}]") for i, entry in enumerate(outputs)
        ]
    return [_comment(row, row.fields, "")]


def _comment(row: RawRow, entry: object, prefix: str) -> RatedComment:
    if not isinstance(entry, dict):
        _fail(row, prefix, "an object with `output` and `is_like`", entry)
    dot = f"{prefix}." if prefix else ""
    if "output" not in entry:
        _fail(row, f"{dot}output", "the text of the rated comment", None)
    text = entry["output"]
    if not isinstance(text, str) or not text.strip():
        _fail(row, f"{dot}output", "non-empty text", text)
    if "is_like" not in entry:
        _fail(row, f"{dot}is_like", "a label 0, 1 or 2", None)
    label = parse_label(entry["is_like"])
    if label is None:
        _fail(
            row,
            f"{dot}is_like",
            "0 (helpful), 1 (not helpful), 2 (no change needed) or the words "
            "helpful, not_helpful, no_change",
            entry["is_like"],
        )
    known = {"output", "is_like"} if prefix else _KNOWN_FIELDS
    extra = {k: v for k, v in entry.items() if k not in known}
    return RatedComment(text=text, label=label, extra=extra if prefix else {})


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
    if name not in row.fields or row.fields[name] is None:
        _fail(row, name, "a value (the field is required)", None)
    return row.fields[name]


def _optional_text(row: RawRow, name: str) -> str | None:
    value = row.fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _fail(row, name, "text", value)
    return str(value)


def _stage_mapping(row: RawRow, name: str) -> dict[str, Any]:
    value = row.fields.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        _fail(row, name, 'an object keyed by stage, e.g. {"check": ...}', value)
    return dict(value)


def _priority(row: RawRow) -> float:
    value = row.fields.get("priority", 0)
    try:
        return float(value)
    except (TypeError, ValueError):
        _fail(row, "priority", "a number (smaller runs first)", value)


def _fail(row: RawRow, name: str, expected: str, got: object) -> NoReturn:
    shown = "nothing" if got is None else repr(got)[:60]
    raise DatasetError(f"{row.where}: field `{name}`: expected {expected}, got {shown}")


def select_samples(
    samples: Iterable[Sample],
    *,
    pos_neg_ratio: float | None = None,
    limit: int | None = None,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
) -> list[Sample]:
    """Apply the positive:negative cap, the limit and the shard, repeatably.

    The ratio brings positives:negatives to ``R`` by dropping seeded-random samples
    of the class in excess (positives when there are more than ``R`` per negative,
    else negatives); the survivors keep their order. ``limit`` then keeps the first
    N. Last, a shard ``(I, N)`` keeps the samples whose ``input_id`` hashes to
    ``I``: shards of one selection are disjoint and cover it, and a sample's shard
    never depends on the other samples.
    """
    chosen = list(samples)
    if pos_neg_ratio is not None:
        chosen = _cap_ratio(chosen, pos_neg_ratio, seed)
    if limit is not None:
        chosen = chosen[:limit]
    if shard is not None:
        index, count = shard
        chosen = [s for s in chosen if shard_of(s.key, count) == index]
    return chosen


def shard_of(key: str, count: int) -> int:
    """The shard, 1 to ``count``, of an ``input_id`` text; stable across runs."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def _cap_ratio(samples: list[Sample], ratio: float, seed: int) -> list[Sample]:
    positives = [i for i, s in enumerate(samples) if s.sample_class == "positive"]
    negatives = [i for i, s in enumerate(samples) if s.sample_class == "negative"]
    if len(positives) > ratio * len(negatives):
        larger, keep = positives, int(ratio * len(negatives))
    elif ratio > 0 and len(negatives) > len(positives) / ratio:
        larger, keep = negatives, int(len(positives) / ratio)
    else:
        return samples
    dropped = set(random.Random(seed).sample(larger, len(larger) - keep))
    return [s for i, s in enumerate(samples) if i not in dropped]
