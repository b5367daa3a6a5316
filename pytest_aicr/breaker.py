"""The circuit breaker: pause an endpoint that keeps failing instead of hammering it.

A run of ``threshold`` consecutive transient failures (timeouts, resets, 408 and
5xx answers, from any key) opens the breaker: calls wait out a cool-down, then one
call goes through as a probe while the others wait another cool-down. A failure
while open pauses again for twice as long (at most four times the cool-down); any
answer that proves the endpoint alive closes it. Each pause moves
:attr:`CircuitBreaker.epoch` on, which tells the retry layer that the failures were
the endpoint's, not the call's, so items do not spend their own retries on an
outage. An endpoint down for longer than ``patience`` seconds is given up on:
every later call ends at once with ``breaker_open``.

The breaker lives in one process; with xdist each worker judges the endpoint by
the failures it sees itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_aicr.errors import BreakerOpen

log = logging.getLogger("pytest_aicr")
_MAX_GROWTH = 4.0
# Deadlines closer than this count as reached: a sleep of a few ulps may not move
# a clock at all, and waiting on it would spin.
_SLACK = 1e-6


@dataclass(frozen=True)
class BreakerSettings:
    """How many failures open the breaker, how long it pauses, when to give up."""

    threshold: int = 5
    cooldown: float = 30.0
    patience: float = 600.0


class CircuitBreaker:
    """Counts consecutive endpoint failures and pauses calls while it is open."""

    def __init__(
        self,
        settings: BreakerSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._cooldown = settings.cooldown
        self._open_until: float | None = None
        self._down_since = 0.0
        self._gave_up = False
        self.epoch = 0
        self.events: list[dict[str, Any]] = []

    def wait(self) -> None:
        """Return when a call may go out; raise :class:`BreakerOpen` after patience."""
        while True:
            with self._lock:
                if self._gave_up:
                    raise BreakerOpen(self._given_up_message())
                if self._open_until is None:
                    return
                now = self._clock()
                left = self._down_since + self._settings.patience - now
                if left <= _SLACK:
                    self._give_up(now)
                    raise BreakerOpen(self._given_up_message())
                remaining = self._open_until - now
                if remaining <= _SLACK:
                    self._open_until = now + self._cooldown
                    return
            self._sleep(min(remaining, left))

    def failure(self, reason: str) -> None:
        """An endpoint failure (timeout, reset, 408, 5xx) was seen."""
        with self._lock:
            self._failures += 1
            now = self._clock()
            if self._open_until is not None:
                self._cooldown = min(
                    self._cooldown * 2, self._settings.cooldown * _MAX_GROWTH
                )
                self._pause(now, reason, again=True)
                return
            if self._failures >= self._settings.threshold:
                self._down_since = now
                self._pause(now, reason, again=False)

    def success(self) -> None:
        """The endpoint answered: close the breaker and reset the count."""
        with self._lock:
            self._failures = 0
            if self._open_until is None:
                return
            down = self._clock() - self._down_since
            self._open_until = None
            self._cooldown = self._settings.cooldown
            self.events.append({"event": "resumed", "after_s": round(down, 3)})
            log.warning("endpoint answering again after %.1f s; calls resume", down)

    def _pause(self, now: float, reason: str, *, again: bool) -> None:
        self._open_until = now + self._cooldown
        self.epoch += 1
        if again:
            log.info(
                "endpoint still failing (%s); pausing %.1f s", reason, self._cooldown
            )
            return
        self.events.append(
            {
                "event": "paused",
                "reason": f"{self._failures} consecutive failures, last {reason}",
            }
        )
        log.warning(
            "circuit breaker open: %d consecutive endpoint failures (last: %s); "
            "pausing calls for %.1f s",
            self._failures,
            reason,
            self._cooldown,
        )

    def _give_up(self, now: float) -> None:
        self._gave_up = True
        down = now - self._down_since
        self.events.append({"event": "gave_up", "after_s": round(down, 3)})
        log.error("endpoint down for %.1f s; remaining calls are not sent", down)

    def _given_up_message(self) -> str:
        return (
            f"the endpoint kept failing for more than {self._settings.patience:g} s "
            "(--aicr-breaker-patience); this call was not sent. Finished results are "
            "kept: rerun when the endpoint is back and cached answers are reused"
        )
