"""The circuit breaker, alone and in front of a real HTTP endpoint."""

from __future__ import annotations

import itertools
import logging

import pytest

from pytest_aicr.breaker import BreakerSettings, CircuitBreaker
from pytest_aicr.errors import BreakerOpen, StageError
from pytest_aicr.retry import RetrySettings
from tests.fakeserver import Reply, Seen
from tests.test_retry import FakeClock, gateway, request

__all__ = ["gateway"]


def test_threshold_opens_pause_then_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(threshold=3, cooldown=10), sleep=clock.sleep, clock=clock
    )
    breaker.failure("HTTP 503")
    breaker.failure("HTTP 503")
    breaker.wait()
    assert (clock.sleeps, breaker.epoch) == ([], 0)
    breaker.failure("HTTP 503")
    assert breaker.epoch == 1
    breaker.wait()
    assert clock.sleeps == [10.0]
    breaker.success()
    breaker.wait()
    assert clock.sleeps == [10.0]
    assert [e["event"] for e in breaker.events] == ["paused", "resumed"]
    assert "3 consecutive failures, last HTTP 503" in breaker.events[0]["reason"]


def test_a_success_between_failures_resets_the_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(threshold=2), clock=clock)
    for _ in range(5):
        breaker.failure("timeout")
        breaker.success()
    assert breaker.epoch == 0


def test_failing_probe_pauses_longer_up_to_a_limit() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(threshold=1, cooldown=1, patience=1000),
        sleep=clock.sleep,
        clock=clock,
    )
    breaker.failure("HTTP 502")
    for _ in range(5):
        breaker.wait()
        breaker.failure("HTTP 502")
    breaker.wait()
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def _fail_for_ever(breaker: CircuitBreaker) -> None:
    while True:
        breaker.wait()
        breaker.failure("HTTP 503")


def test_an_endpoint_that_never_returns_is_given_up_on() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(threshold=1, cooldown=10, patience=25),
        sleep=clock.sleep,
        clock=clock,
    )
    breaker.failure("HTTP 503")
    with pytest.raises(BreakerOpen, match="--aicr-breaker-patience"):
        _fail_for_ever(breaker)
    assert sum(clock.sleeps) == pytest.approx(25.0)
    with pytest.raises(BreakerOpen):
        breaker.wait()
    assert breaker.events[-1]["event"] == "gave_up"


def test_an_outage_does_not_spend_the_calls_retry_budget(gateway, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pytest_aicr")

    count = itertools.count(1)

    def outage(seen: Seen) -> Reply:
        return Reply(status=503) if next(count) <= 12 else Reply()

    gw, server, _, _ = gateway(
        outage,
        retry=RetrySettings(attempts=3, base=0.5),
        breaker=BreakerSettings(threshold=2, cooldown=5, patience=1000),
    )
    assert gw.complete(request()).finish_reason == "stop"
    assert len(server.seen) == 13
    assert [e["event"] for e in gw.stats.breaker] == ["paused", "resumed"]
    assert "circuit breaker open" in caplog.text
    assert "answering again" in caplog.text


def test_without_the_breaker_the_same_outage_ends_the_call(gateway) -> None:
    count = itertools.count(1)
    gw, server, _, _ = gateway(
        lambda seen: Reply(status=503) if next(count) <= 12 else Reply(),
        retry=RetrySettings(attempts=3, base=0.5),
    )
    with pytest.raises(StageError):
        gw.complete(request())
    assert len(server.seen) == 3


def test_breaker_open_is_the_items_error_after_patience(gateway) -> None:
    gw, server, _, _ = gateway(
        lambda seen: Reply(status=503),
        breaker=BreakerSettings(threshold=2, cooldown=5, patience=30),
    )
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert caught.value.category == "breaker_open"
    sent = len(server.seen)
    with pytest.raises(StageError, match="not sent"):
        gw.complete(request())
    assert len(server.seen) == sent


def test_after_a_pause_one_call_probes_while_the_others_wait() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(threshold=1, cooldown=10, patience=1000),
        sleep=clock.sleep,
        clock=clock,
    )
    breaker.failure("timeout")
    breaker.wait()
    assert clock.sleeps == [10.0]
    breaker.wait()
    assert clock.sleeps == [10.0, 10.0]
    breaker.success()
    breaker.wait()
    assert clock.sleeps == [10.0, 10.0]


class ShortSleeper(FakeClock):
    """A clock whose sleeps end a hair early, as coarse real clocks do."""

    def sleep(self, seconds: float) -> None:
        assert len(self.sleeps) < 100, "the breaker spins on a deadline"
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds - 1e-9)


def test_a_deadline_a_hair_away_counts_as_reached() -> None:
    clock = ShortSleeper()
    breaker = CircuitBreaker(
        BreakerSettings(threshold=1, cooldown=0.1, patience=0.35),
        sleep=clock.sleep,
        clock=clock,
    )
    breaker.failure("HTTP 503")
    with pytest.raises(BreakerOpen):
        _fail_for_ever(breaker)
    assert len(clock.sleeps) < 10
