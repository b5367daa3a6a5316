"""Calling models: one request per chain stage, to an endpoint or the offline rules.

:class:`ModelGateway` is the single door to every model. ``builtin:rules`` is
answered in process; anything else goes to an OpenAI-compatible endpoint through
one pooled ``openai`` client per process, with the SDK's own retries off and a
bounded timeout. HTTP failures become the error categories of DESIGN section 5.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_aicr.errors import (
    BadOutput,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    InputRefused,
    NoKey,
    OutputRefused,
    RateLimited,
    RequestTimeout,
    ServerError,
    StageError,
    TooLong,
)
from pytest_aicr.keypool import tell_key_source
from pytest_aicr.keys import ApiKey, KeySource, scrub

if TYPE_CHECKING:
    import openai

    from pytest_aicr.dataset import Sample
    from pytest_aicr.parsing import Comment

BUILTIN_MODEL = "builtin:rules"
_TOO_LONG_WORDS = ("context length", "context_length", "too long", "maximum context")


@dataclass(frozen=True)
class StageRequest:
    """Everything one stage call needs."""

    stage: str
    model: str
    messages: Sequence[Mapping[str, str]]
    params: Mapping[str, Any]
    sample: Sample
    prior: Sequence[Comment] = ()


@dataclass(frozen=True)
class Answer:
    """A model's answer: text, why it stopped, token usage, reasoning if any."""

    text: str | None
    finish_reason: str | None
    usage: Mapping[str, int] = field(default_factory=dict)
    reasoning: str | None = None


@dataclass(frozen=True)
class EndpointSettings:
    """Where remote models live and how long a request may take."""

    base_url: str | None
    keys: KeySource
    timeout: float = 120.0


class ModelGateway:
    """Routes each stage request to the builtin reviewer or the endpoint."""

    def __init__(self, settings: EndpointSettings) -> None:
        self._settings = settings
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def complete(self, request: StageRequest) -> Answer:
        """Answer one stage request or raise a :class:`StageError`."""
        if request.model == BUILTIN_MODEL:
            from pytest_aicr.builtin_model import answer_builtin

            return answer_builtin(request)
        try:
            self._openai()  # the slow first import must not eat into a key's slot
            key = self._settings.keys.acquire()
            return self._call(request, key)
        except StageError as error:
            error.stage = error.stage or request.stage
            error.message = scrub(error.message, list(self._settings.keys.keys))
            raise

    def close(self) -> None:
        """Close the pooled HTTP client."""
        if self._client is not None:
            self._client.close()

    def _openai(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                self._client = _make_client(self._settings)
            return self._client

    def _call(self, request: StageRequest, key: ApiKey) -> Answer:
        import openai

        client = self._openai().with_options(api_key=key.secret)
        params = dict(request.params)
        extra_body = params.pop("extra_body", None)
        try:
            completion = client.chat.completions.create(
                model=request.model,
                messages=list(request.messages),  # type: ignore[arg-type]
                extra_body=extra_body,
                **params,
            )
        except openai.APITimeoutError:
            raise RequestTimeout(
                f"no answer within {self._settings.timeout:g} s", stage=request.stage
            ) from None
        except openai.APIConnectionError as exc:
            raise ConnectionFailed(
                f"cannot reach the endpoint ({type(exc.__cause__).__name__})",
                stage=request.stage,
            ) from None
        except openai.APIStatusError as exc:
            tell_key_source(
                self._settings.keys, key, exc.status_code, exc.response.headers
            )
            raise status_error(
                exc.status_code, _body_text(exc), request.stage
            ) from None
        return _answer_of(completion, request.stage)


def _make_client(settings: EndpointSettings) -> openai.OpenAI:
    import openai

    if not settings.base_url:
        raise ConfigError(
            "no endpoint: set --aicr-base-url, AICR_BASE_URL or OPENAI_BASE_URL"
        )
    return openai.OpenAI(
        base_url=settings.base_url,
        api_key="unset",
        max_retries=0,
        timeout=settings.timeout,
        http_client=openai.DefaultHttpxClient(timeout=settings.timeout),
    )


def _body_text(exc: Any) -> str:
    try:
        return str(exc.response.text)[:300]
    except Exception:  # a body that cannot be read is no reason to fail differently
        return ""


def status_error(status: int, body: str, stage: str) -> StageError:
    """The error category for an HTTP status (DESIGN section 5)."""
    short = " ".join(body.split())[:160]
    if status == 400:
        if any(word in body.lower() for word in _TOO_LONG_WORDS):
            return TooLong(f"the prompt is too long: {short}", stage=stage, status=400)
        return BadRequest(
            f"the endpoint rejected the request: {short}", stage=stage, status=400
        )
    if status in (401, 403):
        return NoKey(
            "the key was rejected (invalid or out of quota)", stage=stage, status=status
        )
    if status == 450:
        return InputRefused("the input was refused by policy", stage=stage, status=450)
    if status == 451:
        return OutputRefused(
            "the output was refused by policy", stage=stage, status=451
        )
    if status == 429:
        return RateLimited("rate limited", stage=stage, status=429)
    if status == 408:
        return RequestTimeout("request timeout", stage=stage, status=408)
    return ServerError(f"HTTP {status}: {short}", stage=stage, status=status)


def _answer_of(completion: Any, stage: str) -> Answer:
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise BadOutput("the answer holds no choices", stage=stage)
    message = choices[0].message
    usage = getattr(completion, "usage", None)
    tokens = {}
    if usage is not None:
        tokens = {
            "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        }
    reasoning = getattr(message, "reasoning_content", None) or getattr(
        message, "reasoning", None
    )
    return Answer(
        text=message.content,
        finish_reason=choices[0].finish_reason,
        usage=tokens,
        reasoning=reasoning if isinstance(reasoning, str) else None,
    )
