"""Turn a model's answer into review comments.

Forgiving where it is safe: a code fence around the JSON, prose before or after it,
a bare list, a leading ``<think>`` block. Strict where it is not: output cut off at
the token limit is :class:`Truncated`; anything else unreadable is
:class:`BadOutput` quoting the start of the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from pytest_aicr.errors import BadOutput, Truncated

_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n(.*?)```", re.DOTALL)
_TRUE_WORDS = {"true": True, "yes": True, "false": False, "no": False}
_QUOTE_LENGTH = 120


@dataclass(frozen=True)
class Comment:
    """One review comment produced by a stage."""

    comment: str
    file: str | None = None
    line: int | None = None
    severity: str | None = None
    category: str | None = None
    valid: bool | None = None
    reason: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The comment as stored in results, without empty fields."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_answer(
    text: str | None, *, stage: str, finish_reason: str | None = None
) -> list[Comment]:
    """Parse a stage's answer into comments.

    Raises:
        Truncated: the answer hit the token limit.
        BadOutput: the answer is not a readable ``{"comments": [...]}``.

    """
    if finish_reason == "length":
        raise Truncated(
            "the answer was cut off at the token limit; raise max_tokens in params",
            stage=stage,
        )
    body = _THINK.sub("", text or "", count=1).strip()
    if not body:
        raise BadOutput("the answer is empty", stage=stage)
    payload = _find_json(body)
    if payload is None:
        raise BadOutput(f"no JSON in the answer: {_quote(body)}", stage=stage)
    entries = _comment_list(payload)
    if entries is None:
        raise BadOutput(
            f'expected {{"comments": [...]}}, got: {_quote(body)}', stage=stage
        )
    return [_to_comment(entry, index, stage) for index, entry in enumerate(entries)]


def _find_json(body: str) -> Any:
    """The first JSON object or list in the text, fenced or not."""
    candidates = [match.group(1) for match in _FENCE.finditer(body)] + [body]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start, char in enumerate(candidate):
            if char not in "{[":
                continue
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict | list):
                return value
    return None


def _comment_list(payload: Any) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        comments = payload.get("comments")
        if isinstance(comments, list):
            return comments
    return None


def _to_comment(entry: Any, index: int, stage: str) -> Comment:
    if isinstance(entry, str) and entry.strip():
        return Comment(comment=entry.strip())
    if not isinstance(entry, dict):
        raise BadOutput(
            f"comment {index} is {type(entry).__name__}, expected an object",
            stage=stage,
        )
    text = entry.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise BadOutput(f"comment {index} has no `comment` text", stage=stage)
    return Comment(
        comment=text.strip(),
        file=_text_or_none(entry.get("file")),
        line=_line_or_none(entry.get("line")),
        severity=_text_or_none(entry.get("severity")),
        category=_text_or_none(entry.get("category")),
        valid=_validity(entry, index, stage),
        reason=_text_or_none(entry.get("reason")),
    )


def _validity(entry: dict[str, Any], index: int, stage: str) -> bool | None:
    if "valid" not in entry or entry["valid"] is None:
        return None
    value = entry["valid"]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS:
        return _TRUE_WORDS[value.strip().lower()]
    raise BadOutput(
        f"comment {index} has `valid` {value!r}; expected true or false", stage=stage
    )


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _line_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _QUOTE_LENGTH:
        return repr(flat)
    return repr(flat[:_QUOTE_LENGTH]) + "..."
