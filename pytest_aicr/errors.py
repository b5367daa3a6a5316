"""Errors of pytest-aicr.

Two families. A user's mistake in the input stops the run before it starts (exit
status 4); an item whose chain fails records a categorised error and the run goes on::

    AicrError
    ├── UsageProblem            broken dataset, config or option: exit status 4
    │   ├── DatasetError
    │   └── ConfigError
    └── StageError              one chain stage failed; ``category`` names the kind
        ├── BadOutput           bad_output
        │   └── UnreadableBody  bad_output (a 200 that is no completion; one retry)
        ├── Truncated           truncated
        ├── BadRequest          bad_request
        ├── TooLong             too_long
        ├── InputRefused        input_refused
        ├── OutputRefused       output_refused
        ├── RequestTimeout      timeout
        ├── ConnectionFailed    connection
        │   └── KeyStoreFailed  connection (the key pool's SQLite file; never retried)
        ├── RateLimited         rate_limited
        │   └── RunStopped      rate_limited (the run ended first; never retried)
        ├── ServerError         server_error
        ├── NoKey               no_key
        ├── CacheMiss           cache_miss
        └── BreakerOpen         breaker_open
"""

from __future__ import annotations

from typing import ClassVar

from pytest_aicr.scrubbing import scrub


class AicrError(Exception):
    """Base of every error raised on purpose by pytest-aicr."""


class UsageProblem(AicrError):
    """Input the user must fix before a run can start."""


class DatasetError(UsageProblem):
    """A dataset file cannot be read; the message names the place and the fix."""


class ConfigError(UsageProblem):
    """An option or config value is invalid."""


class StageError(AicrError):
    """A chain stage ended without a usable answer."""

    category: ClassVar[str] = "server_error"

    def __init__(
        self, message: str, *, stage: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.status = status
        self.retry_after: float | None = None

    def as_record(self) -> dict[str, object]:
        """The error as stored in results: category, stage, status, message."""
        return {
            "category": self.category,
            "stage": self.stage,
            "status": self.status,
            "message": scrub(self.message),
        }

    def one_line(self) -> str:
        """A one-line reason for the failed item."""
        status = f", status {self.status}" if self.status is not None else ""
        where = self.stage or "chain"
        return f"{self.category} in {where}{status}: {scrub(self.message)}"


class BadOutput(StageError):
    """The model answered, but not with the JSON the stage expects."""

    category = "bad_output"


class UnreadableBody(BadOutput):
    """The endpoint answered 200 with a body that is not a chat completion."""


class Truncated(StageError):
    """The answer was cut off at the token limit."""

    category = "truncated"


class BadRequest(StageError):
    """The endpoint rejected the request (400)."""

    category = "bad_request"


class TooLong(StageError):
    """The prompt does not fit the model's context."""

    category = "too_long"


class InputRefused(StageError):
    """The endpoint's policy refused the input (450)."""

    category = "input_refused"


class OutputRefused(StageError):
    """The endpoint's policy refused the output (451)."""

    category = "output_refused"


class RequestTimeout(StageError):
    """Every attempt timed out."""

    category = "timeout"


class ConnectionFailed(StageError):
    """The endpoint could not be reached."""

    category = "connection"


class KeyStoreFailed(ConnectionFailed):
    """The key pool's SQLite file is locked, damaged or gone: no call may be sent."""


class RateLimited(StageError):
    """Retries were used up on 429 answers."""

    category = "rate_limited"


class RunStopped(RateLimited):
    """The run stopped (``-x``, Ctrl-C) while the call waited for a key: no retry."""


class ServerError(StageError):
    """Retries were used up on 5xx answers."""

    category = "server_error"


class NoKey(StageError):
    """Every key was taken out of the pool after 401/403."""

    category = "no_key"


class CacheMiss(StageError):
    """Replay-only cache mode and the answer is not cached."""

    category = "cache_miss"


class BreakerOpen(StageError):
    """The endpoint stayed down past the circuit breaker's patience."""

    category = "breaker_open"


ERROR_CATEGORIES: tuple[str, ...] = tuple(
    cls.category
    for cls in (
        BadOutput,
        Truncated,
        BadRequest,
        TooLong,
        InputRefused,
        OutputRefused,
        RequestTimeout,
        ConnectionFailed,
        RateLimited,
        ServerError,
        NoKey,
        CacheMiss,
        BreakerOpen,
    )
)
