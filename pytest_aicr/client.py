"""Calling models: one request per chain stage, to an endpoint or the offline rules.

:class:`ModelGateway` is the single door to every model. ``builtin:rules`` is
answered in process; anything else goes to an OpenAI-compatible endpoint through
one pooled ``openai`` client per process, with the SDK's own retries off and a
bounded timeout. HTTP failures become the error categories of DESIGN section 5.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pytest_aicr.accounting import CallStats
from pytest_aicr.breaker import BreakerSettings, CircuitBreaker
from pytest_aicr.cache import ResponseCache, request_key
from pytest_aicr.completion import Answer, read_completion
from pytest_aicr.context import check_fits, without_context_param
from pytest_aicr.errors import (
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
from pytest_aicr.keys import ApiKey, KeySource, key_masks
from pytest_aicr.retry import RetryPolicy, RetrySettings, retry_after
from pytest_aicr.scrubbing import protect, scrub, shorten

if TYPE_CHECKING:
    import openai

    from pytest_aicr.dataset import Sample
    from pytest_aicr.parsing import Comment

BUILTIN_MODEL = "builtin:rules"
_TOO_LONG_WORDS = ("context length", "context_length", "too long", "maximum context")
_MESSAGE_LENGTH = 300


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
class EndpointSettings:
    """Where remote models live, how calls retry, pause and are cached."""

    base_url: str | None
    keys: KeySource
    timeout: float = 120.0
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    cache_mode: str = "off"
    cache_dir: Path = Path(".aicr_cache")
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class ModelGateway:
    """Routes each stage request to the builtin reviewer or the endpoint."""

    def __init__(self, settings: EndpointSettings) -> None:
        self._settings = settings
        protect(key_masks(settings.keys.keys))
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self.stats = CallStats()
        breaker = CircuitBreaker(
            settings.breaker, sleep=settings.sleep, clock=settings.clock
        )
        self.stats.breaker = breaker.events
        self._retry = RetryPolicy(
            settings.retry,
            keys=settings.keys,
            breaker=breaker,
            stats=self.stats,
            sleep=settings.sleep,
            clock=settings.clock,
        )
        self._cache = ResponseCache(settings.cache_dir, settings.cache_mode, self.stats)

    def complete(self, request: StageRequest) -> Answer:
        """Answer one stage request or raise a :class:`StageError`."""
        if request.model == BUILTIN_MODEL:
            from pytest_aicr.builtin_model import answer_builtin

            return answer_builtin(request)
        try:
            self._openai()  # the slow first import must not eat into a key's slot
            check_fits(
                request.messages,
                request.params,
                model=request.model,
                stage=request.stage,
            )
            return self._cached(request, without_context_param(request.params))
        except StageError as error:
            error.stage = error.stage or request.stage
            error.message = shorten(error.message, _MESSAGE_LENGTH)
            raise

    def _cached(self, request: StageRequest, params: dict[str, Any]) -> Answer:
        """The answer from the cache, else from the endpoint through the retries."""
        key = request_key(
            self._settings.base_url or "", request.model, request.messages, params
        )
        what = (
            f"sample {request.sample.input_id!r} (stage {request.stage}, "
            f"model {request.model})"
        )
        entry = self._cache.fetch(
            key,
            lambda: asdict(self._retry.run(lambda k: self._call(request, params, k))),
            what,
        )
        return Answer(
            text=entry.get("text"),
            finish_reason=entry.get("finish_reason"),
            usage=dict(entry.get("usage") or {}),
            reasoning=entry.get("reasoning"),
            refusal=entry.get("refusal"),
        )

    def close(self) -> None:
        """Close the pooled HTTP client."""
        if self._client is not None:
            self._client.close()

    def _openai(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                self._client = _make_client(self._settings)
            return self._client

    def _call(
        self, request: StageRequest, params: Mapping[str, Any], key: ApiKey
    ) -> Answer:
        import openai

        client = self._openai().with_options(api_key=key.secret)
        params = dict(params)
        extra_body = dict(params.pop("extra_body", None) or {})
        # the SDK refuses names it does not know (top_k): they go in the body as is
        for name in set(params) - _sdk_params():
            extra_body[name] = params.pop(name)
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=request.model,
                messages=list(request.messages),  # type: ignore[arg-type]
                extra_body=extra_body or None,
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
            error = status_error(exc.status_code, self._body_text(exc), request.stage)
            error.retry_after = retry_after(exc.response.headers, time.time())
            raise error from None
        return read_completion(
            raw.http_response.content, stage=request.stage, mask=scrub
        )

    def _body_text(self, exc: Any) -> str:
        """The error body with keys masked, before it is cut short."""
        try:
            text = str(exc.response.text)
        except Exception:  # a body that cannot be read is no reason to fail differently
            return ""
        return shorten(text, _MESSAGE_LENGTH)


@functools.cache
def _sdk_params() -> frozenset[str]:
    """The request fields the SDK's ``create`` takes as keyword arguments."""
    from openai.resources.chat.completions import Completions

    return frozenset(inspect.signature(Completions.create).parameters)


def _make_client(settings: EndpointSettings) -> openai.OpenAI:
    import openai

    if not settings.base_url:
        raise ConfigError(
            "no endpoint: set --aicr-base-url, AICR_BASE_URL or OPENAI_BASE_URL"
        )
    # a query on the base URL (Azure's api-version) belongs on every request, not
    # in the middle of the path the SDK appends to
    base, _, query = settings.base_url.partition("?")
    return openai.OpenAI(
        base_url=base,
        default_query=dict(parse_qsl(query.partition("#")[0], keep_blank_values=True)),
        api_key="unset",
        max_retries=0,
        timeout=settings.timeout,
        http_client=openai.DefaultHttpxClient(timeout=settings.timeout),
    )


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
    if 400 <= status < 500:
        return BadRequest(
            f"HTTP {status} from the endpoint: {short}", stage=stage, status=status
        )
    return ServerError(f"HTTP {status}: {short}", stage=stage, status=status)
