"""Read the body of a 200 chat-completion answer into an :class:`Answer`.

The body is read here rather than through the SDK's models, so that a hostile one
ends in a category instead of a crash. Bytes that are not UTF-8 are replaced (and a
leading BOM dropped); a body that is not a JSON completion (a proxy's HTML page,
junk, an error object sent with 200) is :class:`UnreadableBody`; a completion
without a choice or a message is :class:`BadOutput`. Content given as a list of
parts is joined; content given as a JSON object is read as its JSON text. An
answer given as a tool call (no text, ``tool_calls`` or the older
``function_call`` set) is read from the first function call's arguments: the
parser then finds the comments there or reports bad output like for any other
text. A key the body echoes is
masked before anything is read from it, so it reaches no message, log or cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_aicr.errors import BadOutput, UnreadableBody
from pytest_aicr.parsing import mend_text, quote


@dataclass(frozen=True)
class Answer:
    """A model's answer: text, why it stopped, token usage, reasoning, refusal."""

    text: str | None
    finish_reason: str | None
    usage: Mapping[str, int] = field(default_factory=dict)
    reasoning: str | None = None
    refusal: str | None = None


def read_completion(
    body: bytes, *, stage: str, mask: Callable[[str], str] = str
) -> Answer:
    """The answer in a 200 body; raise :class:`BadOutput` for one that holds none.

    ``mask`` hides secrets in text, applied to the body and to each text read.
    """
    data = _json_body(mask(body.decode("utf-8-sig", errors="replace")), stage)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadOutput("the answer holds no choices", stage=stage)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise BadOutput("the answer's choice holds no message", stage=stage)
    text = _content(message.get("content"))
    if not (text or "").strip():
        calls = message.get("tool_calls") or [
            {"function": message.get("function_call")}
        ]
        text = _tool_arguments(calls) or text
    finish_reason = choice.get("finish_reason")
    reasoning = _text(message.get("reasoning_content")) or _text(
        message.get("reasoning")
    )
    refusal = _text(message.get("refusal"))
    return Answer(
        text=None if text is None else mask(text),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        usage=_usage(data.get("usage")),
        reasoning=None if reasoning is None else mask(reasoning),
        refusal=None if refusal is None else mask(refusal),
    )


def _json_body(text: str, stage: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise UnreadableBody(
            f"the endpoint answered 200 with a body that is not JSON: {quote(text)}",
            stage=stage,
            status=200,
        ) from None
    except RecursionError:
        raise UnreadableBody(
            "the endpoint answered 200 with JSON nested too deeply to read",
            stage=stage,
            status=200,
        ) from None
    if isinstance(data, dict) and "choices" not in data and "error" in data:
        raise UnreadableBody(
            f"the endpoint answered 200 with an error: {quote(str(data['error']))}",
            stage=stage,
            status=200,
        )
    if not isinstance(data, dict):
        raise UnreadableBody(
            f"the endpoint answered 200 with JSON that is no completion: {quote(text)}",
            stage=stage,
            status=200,
        )
    return data


def _content(value: Any) -> str | None:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        parts = [part.get("text") for part in value if isinstance(part, dict)]
        value = "".join(part for part in parts if isinstance(part, str))
    return _text(value)


def _tool_arguments(calls: Any) -> str | None:
    if not isinstance(calls, list):
        return None
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, dict | list):
            return json.dumps(arguments, ensure_ascii=False)
        return _text(arguments)
    return None


def _text(value: Any) -> str | None:
    return mend_text(value) if isinstance(value, str) else None


def _usage(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {
        name: _count(value.get(name)) for name in ("prompt_tokens", "completion_tokens")
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
