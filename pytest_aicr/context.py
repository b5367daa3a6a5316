"""The token pre-check: a prompt that cannot fit the model's context is not sent.

A stage's parameters may give the model's context size as ``context_tokens``
(per variant and stage in the config, or per sample). The prompt's size is
estimated conservatively at one token per three characters, plus the answer's
``max_tokens``; tokenizers differ per model, so the estimate errs on the large side.
The parameter is ours: it is never sent to the endpoint and is not part of the
cache key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aicr.errors import BadRequest, TooLong

CONTEXT_PARAM = "context_tokens"
CHARS_PER_TOKEN = 3


def estimate_tokens(messages: Sequence[Mapping[str, Any]], max_tokens: int) -> int:
    """A conservative token count for the prompt and the longest answer."""
    characters = sum(len(str(message.get("content") or "")) for message in messages)
    return -(-characters // CHARS_PER_TOKEN) + max_tokens


def check_fits(
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    model: str,
    stage: str,
) -> None:
    """Raise :class:`TooLong` when the request cannot fit ``context_tokens``."""
    limit = params.get(CONTEXT_PARAM)
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise BadRequest(
            f"params {CONTEXT_PARAM} of {model} ({stage}) must be a positive whole "
            f"number of tokens, not {limit!r}",
            stage=stage,
        )
    max_tokens = int(params.get("max_tokens") or 0)
    needed = estimate_tokens(messages, max_tokens)
    if needed > limit:
        raise TooLong(
            f"the prompt needs about {needed} tokens (characters/3 + max_tokens "
            f"{max_tokens}) but {model} holds {limit} ({CONTEXT_PARAM}); not sent",
            stage=stage,
        )


def without_context_param(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as sent to the endpoint."""
    return {name: value for name, value in params.items() if name != CONTEXT_PARAM}
