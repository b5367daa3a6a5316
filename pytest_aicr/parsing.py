"""Turn a model's answer into review comments.

Forgiving where it is safe: a code fence around the JSON, prose before or after it,
a bare list, a leading ``<think>`` block, the JSON sent once more as a JSON string.
The first object with a ``comments`` key wins over other JSON in the text; a bare
list is used when there is none. Strict where it is not safe: output cut off at the
token limit is :class:`Truncated`; a refusal or a content filter's stop is
:class:`OutputRefused`; anything else unreadable (trailing commas, single quotes,
comments in the JSON, nesting too deep to read) is :class:`BadOutput` quoting the
start of the text. Text is kept as written except that lone surrogates become
U+FFFD; a comment of whitespace and invisible format characters only is no comment.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from pytest_aicr.errors import BadOutput, OutputRefused, Truncated

_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n(.*?)```", re.DOTALL)
_OPENING = re.compile(r"[{\[]")
_TRUE_WORDS = {"true": True, "yes": True, "false": False, "no": False}
_QUOTE_LENGTH = 120
# At most this many brackets are tried as the start of JSON per text: junk full of
# brackets would otherwise cost a parse attempt per bracket.
_MAX_STARTS = 500
_JSON_TYPES = {
    list: "a list",
    str: "blank text",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


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
    text: str | None,
    *,
    stage: str,
    finish_reason: str | None = None,
    refusal: str | None = None,
) -> list[Comment]:
    """Parse a stage's answer into comments.

    Raises:
        OutputRefused: the model refused, or a content filter stopped the answer.
        Truncated: the answer hit the token limit.
        BadOutput: the answer is not a readable ``{"comments": [...]}``.

    """
    if refusal and refusal.strip():
        raise OutputRefused(f"the model refused: {quote(refusal)}", stage=stage)
    if finish_reason == "content_filter":
        raise OutputRefused(
            "the answer was stopped by the endpoint's content filter", stage=stage
        )
    if finish_reason == "length":
        raise Truncated(
            "the answer was cut off at the token limit; raise max_tokens in params",
            stage=stage,
        )
    body = _unquoted(_THINK.sub("", mend_text(text or ""), count=1).strip())
    if not body:
        raise BadOutput("the answer is empty", stage=stage)
    payload = _find_json(body, stage)
    entries = _comment_list(payload)
    if entries is None:
        raise BadOutput(
            f'expected {{"comments": [...]}}, got: {quote(body)}', stage=stage
        )
    return [_to_comment(entry, index, stage) for index, entry in enumerate(entries)]


def mend_text(text: str) -> str:
    """The text with lone surrogates (unwritable as UTF-8) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def quote(text: str) -> str:
    """The start of a text, on one line, for an error message."""
    flat = " ".join(text.split())
    if len(flat) <= _QUOTE_LENGTH:
        return repr(flat)
    return repr(flat[:_QUOTE_LENGTH]) + "..."


def _unquoted(body: str) -> str:
    """The text inside a JSON string literal when that is the whole answer."""
    if not body.startswith('"'):
        return body
    try:
        inner = json.loads(body)
    except ValueError:
        return body
    return mend_text(inner).strip() if isinstance(inner, str) else body


def _find_json(body: str, stage: str) -> Any:
    """The object with ``comments`` in the text, else its first list or object.

    Fenced blocks are searched before the whole text. Broken JSON before any
    readable value is reported as such.
    """
    found: list[Any] = []
    broken: json.JSONDecodeError | None = None
    for candidate in [m.group(1) for m in _FENCE.finditer(body)] + [body]:
        for value in _json_values(candidate, stage):
            if isinstance(value, json.JSONDecodeError):
                broken = broken or (None if found else value)
            elif isinstance(value, dict) and "comments" in value:
                return value
            else:
                found.append(value)
    if broken is not None:
        raise BadOutput(
            f"the JSON in the answer is broken at line {broken.lineno}, column "
            f"{broken.colno} ({broken.msg}); trailing commas, single quotes and "
            f"comments are not JSON: {quote(body)}",
            stage=stage,
        )
    lists = [value for value in found if isinstance(value, list)]
    if not found:
        raise BadOutput(f"no JSON in the answer: {quote(body)}", stage=stage)
    return (lists or found)[0]


def _json_values(text: str, stage: str) -> Iterator[Any]:
    """Each JSON object or list in the text, left to right, none inside another.

    A start that fails to parse yields its error when the parse got past the
    opening bracket (it looked like JSON), and is skipped otherwise.
    """
    decoder = json.JSONDecoder()
    position = 0
    for _ in range(_MAX_STARTS):
        opening = _OPENING.search(text, position)
        if opening is None:
            return
        start = opening.start()
        try:
            value, position = decoder.raw_decode(text, start)
        except json.JSONDecodeError as error:
            position = start + 1
            if error.pos > start + 1:
                yield error
            continue
        except RecursionError:
            raise BadOutput(
                "the JSON in the answer is nested too deeply to read", stage=stage
            ) from None
        yield value


def _comment_list(payload: Any) -> list[Any] | None:
    if isinstance(payload, dict):
        payload = _decoded(payload.get("comments"))
    return payload if isinstance(payload, list) else None


def _decoded(value: Any) -> Any:
    """A JSON value sent as a JSON string, decoded; anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _to_comment(entry: Any, index: int, stage: str) -> Comment:
    if isinstance(entry, str) and not _blank(entry):
        return Comment(comment=mend_text(entry.strip()))
    if not isinstance(entry, dict):
        kind = _JSON_TYPES.get(type(entry), "not an object")
        raise BadOutput(
            f"comment {index} is {kind}, expected an object with `comment` text",
            stage=stage,
        )
    text = entry.get("comment")
    if not isinstance(text, str) or _blank(text):
        raise BadOutput(f"comment {index} has no `comment` text", stage=stage)
    return Comment(
        comment=mend_text(text.strip()),
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
    text = mend_text(str(value)).strip()
    return text or None


def _blank(text: str) -> bool:
    """True for text of whitespace and invisible format characters only."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in text)


def _line_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
