"""The config's field map and label map: a team's own column names and labels.

``fields: {input_id: id, code: patch}`` reads the column ``id`` as ``input_id``;
``labels: {"👍": 0, "👎": 1}`` reads those labels as 0 and 1 (the built-in labels
keep working). Both are checked when read, so a typo fails before any row is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_aicr.errors import ConfigError, DatasetError
from pytest_aicr.readers import RawRow

FIELD_NAMES = (
    "input_id",
    "code",
    "output",
    "is_like",
    "outputs",
    "language",
    "file",
    "models",
    "params",
    "priority",
)
_COMMENT_FIELDS = ("output", "is_like")
_LABEL_VALUES = {"0": 0, "1": 1, "2": 2, "helpful": 0, "not_helpful": 1, "no_change": 2}


class FieldMap:
    """Renames a record's fields from the team's names to the design's."""

    def __init__(self, field_map: Mapping[str, Any]) -> None:
        theirs: dict[str, str] = {}
        for ours, their_name in field_map.items():
            if ours not in FIELD_NAMES:
                raise ConfigError(
                    f"config `fields`: {ours!r} is not a dataset field; map one of "
                    f"{', '.join(FIELD_NAMES)} to your column name"
                )
            if not isinstance(their_name, str) or not their_name:
                raise ConfigError(
                    f"config `fields`: {ours} must map to a column name, "
                    f"got {their_name!r}"
                )
            if their_name in theirs:
                raise ConfigError(
                    f"config `fields`: both {theirs[their_name]} and {ours} map to "
                    f"{their_name!r}; map each field to its own column"
                )
            theirs[their_name] = ours
        self._ours = theirs

    def apply(self, row: RawRow) -> dict[str, Any]:
        """The row's fields under the design's names."""
        if not self._ours:
            return row.fields
        fields = self._rename(row, row.fields)
        outputs = fields.get("outputs")
        if isinstance(outputs, list):
            fields["outputs"] = [
                self._rename(row, e) if isinstance(e, dict) else e for e in outputs
            ]
        return fields

    def _rename(self, row: RawRow, fields: Mapping[str, Any]) -> dict[str, Any]:
        renamed: dict[str, Any] = {}
        for name, value in fields.items():
            ours = self._ours.get(name, name)
            if ours in renamed:
                raise DatasetError(
                    f"{row.where}: field `{ours}` is given twice (as {ours!r} and "
                    f"through the field map); drop one of the two columns"
                )
            renamed[ours] = value
        return renamed


def checked_label_map(labels: Mapping[Any, Any]) -> dict[str, int]:
    """The label map with its keys as text and its values as 0, 1 or 2."""
    checked: dict[str, int] = {}
    for written, meaning in labels.items():
        if isinstance(written, bool) or written is None:
            raise ConfigError(
                f"config `labels`: the key {written!r} is how YAML reads an unquoted "
                'yes/no/true/false/null; quote the label as it is written, e.g. "yes"'
            )
        value = _LABEL_VALUES.get(str(meaning).strip().lower())
        if value is None or isinstance(meaning, bool):
            raise ConfigError(
                f"config `labels`: {written!r} maps to {meaning!r}; map each label "
                "to 0 (helpful), 1 (not helpful), 2 (no change needed) or the words "
                "helpful, not_helpful, no_change"
            )
        checked[str(written).strip()] = value
    return checked
