"""The one retry layer for endpoint calls (DESIGN section 5), built on tenacity.

Timeouts, connection resets and the statuses 408, 429, 500, 502, 503 and 504 are
transient: the call is tried again after an exponential backoff with jitter, or
after what ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date) asks,
within a bounded number of attempts and a bounded total time per call. A 429 also
rests that key in the key source, never longer than the call's time limit or
:data:`~pytest_aicr.keypool.MAX_REST`; a 429 asking for a wait longer than the
time the call has left ends the call at once. A 401/403 takes the key out and the
same call moves to another key at once. A 200 whose body is no completion (a
proxy's HTML page, junk) is tried once more after the first backoff, then ends as
``bad_output``: it is not counted by the circuit breaker, so a junk endpoint
cannot hold items for the breaker's pauses. Every other answer is final. Attempts
spent while the circuit breaker was pausing the endpoint are not charged to the
call.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from pytest_aicr.accounting import CallStats
from pytest_aicr.breaker import CircuitBreaker
from pytest_aicr.errors import (
    ConnectionFailed,
    KeyStoreFailed,
    NoKey,
    RateLimited,
    RequestTimeout,
    RunStopped,
    ServerError,
    StageError,
    UnreadableBody,
)
from pytest_aicr.keypool import MAX_REST
from pytest_aicr.keys import ApiKey, KeySource

log = logging.getLogger("pytest_aicr")
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
UNREADABLE_RETRIES = 1
T = TypeVar("T")


@dataclass(frozen=True)
class RetrySettings:
    """Attempts and total seconds allowed per call; backoff base and cap."""

    attempts: int = 6
    max_time: float = 600.0
    base: float = 1.0
    cap: float = 60.0


def is_transient(error: BaseException) -> bool:
    """True for failures worth another attempt (the transient rows of the table)."""
    if isinstance(error, RunStopped | KeyStoreFailed):
        return False
    if isinstance(error, RequestTimeout | ConnectionFailed):
        return True
    if isinstance(error, RateLimited | ServerError):
        return error.status is None or error.status in TRANSIENT_STATUSES
    return False


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``now`` is the wall-clock time used for the HTTP-date form.
    """
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return None if value is None or value != value or value < 0 else value


class RetryPolicy:
    """Runs one call with keys from a key source until it succeeds or must stop."""

    def __init__(
        self,
        settings: RetrySettings,
        *,
        keys: KeySource,
        breaker: CircuitBreaker,
        stats: CallStats,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._keys = keys
        self._breaker = breaker
        self._stats = stats
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    def run(self, attempt: Callable[[ApiKey], T]) -> T:
        """Call ``attempt(key)`` until it returns; raise the last error otherwise."""
        budget = _Budget(self)
        retrying = tenacity.Retrying(
            sleep=self._sleep,
            stop=budget.stop,
            wait=budget.wait,
            retry=budget.retry,
            before_sleep=_log_retry,
            reraise=True,
        )
        answer: T = retrying(self._once, attempt, budget)
        return answer

    def _once(self, attempt: Callable[[ApiKey], T], budget: _Budget) -> T:
        self._breaker.wait()
        rejected: StageError | None = None
        for _ in range(len(self._keys.keys) + 1):
            key = self._acquire(rejected, budget)
            started = self._clock()
            try:
                answer = attempt(key)
            except StageError as error:
                self._record_failure(key, error, self._clock() - started)
                if error.status in (401, 403):
                    rejected = error
                    continue
                raise
            usage = getattr(answer, "usage", None)
            self._stats.request(
                key, failure=None, latency=self._clock() - started, usage=usage
            )
            self._breaker.success()
            return answer
        raise NoKey(
            f"every key was rejected (HTTP {getattr(rejected, 'status', None)})",
            status=getattr(rejected, "status", None),
        )

    def _acquire(self, rejected: StageError | None, budget: _Budget) -> ApiKey:
        started = self._clock()
        try:
            key = self._keys.acquire()
        except NoKey as error:
            if rejected is not None:
                error.status = rejected.status
                error.message = (
                    f"every key was rejected (last answer HTTP {rejected.status}: "
                    "invalid key or out of quota); check the keys in the env var"
                )
            raise
        waited = self._clock() - started
        budget.key_wait += waited
        self._stats.waited(key, waited)
        return key

    def _record_failure(self, key: ApiKey, error: StageError, latency: float) -> None:
        kind = error.category if error.status in (None, 200) else str(error.status)
        self._stats.request(key, failure=kind, latency=latency)
        if error.status in (401, 403):
            log.warning("key %s rejected (HTTP %s); taken out", key.label, error.status)
            self._keys.remove(key)
        elif isinstance(error, RateLimited):
            log.info("key %s rate limited; resting it (%s)", key.label, _asked(error))
            asked = error.retry_after
            rest = None if asked is None else min(asked, self.settings.max_time)
            self._keys.cool_down(key, None if rest is None else min(rest, MAX_REST))
        if is_transient(error) and not isinstance(error, RateLimited):
            self._breaker.failure(kind if error.status is None else f"HTTP {kind}")
        else:
            self._breaker.success()


def _asked(error: StageError) -> str:
    if error.retry_after is None:
        return "no Retry-After"
    return f"Retry-After {error.retry_after:g} s"


class _Budget:
    """One call's attempts and time; restarted when the breaker pauses the endpoint.

    Time spent waiting for a key (rate limits) is not charged to the call.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._epoch = policy._breaker.epoch
        self._first = 1
        self._started = policy._clock()
        self._unreadable = 0
        self.key_wait = 0.0

    def retry(self, state: tenacity.RetryCallState) -> bool:
        """Retry transient failures, and an unreadable body only once per call."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, UnreadableBody):
            self._unreadable += 1
            return self._unreadable <= UNREADABLE_RETRIES
        if isinstance(error, RateLimited) and error.retry_after is not None:
            left = self._policy.settings.max_time - self._elapsed()
            if error.retry_after > left:
                error.message = (
                    f"rate limited: the server asked to wait "
                    f"{error.retry_after:.0f} s, more than the {max(left, 0):.0f} s "
                    "left to this call (--aicr-retry-max-time)"
                )
                return False
        return error is not None and is_transient(error)

    def _elapsed(self) -> float:
        return self._policy._clock() - self._started - self.key_wait

    def _tries(self, state: tenacity.RetryCallState) -> int:
        breaker = self._policy._breaker
        if breaker.epoch != self._epoch:
            self._epoch = breaker.epoch
            self._first = state.attempt_number
            self._started = self._policy._clock()
            self.key_wait = 0.0
        return state.attempt_number - self._first + 1

    def wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After when the server gave one, else exponential backoff."""
        settings = self._policy.settings
        error = state.outcome.exception() if state.outcome else None
        tries = self._tries(state)
        backoff = min(settings.cap, settings.base * 2.0 ** (tries - 1))
        jittered: float = backoff / 2 + self._policy._rng() * backoff / 2
        asked = getattr(error, "retry_after", None)
        if isinstance(error, RateLimited) or asked is None:
            return jittered
        return float(asked)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        """Stop after the attempts, or when the next wait would pass the time limit."""
        settings = self._policy.settings
        if self._tries(state) >= settings.attempts:
            return True
        return self._elapsed() + state.upcoming_sleep > settings.max_time


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info(
        "attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        error.one_line() if isinstance(error, StageError) else error,
        state.upcoming_sleep,
    )
