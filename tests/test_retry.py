"""The status table of DESIGN section 5, row by row, over real HTTP to 127.0.0.1.

Sleeps and the clock are injected: backoff is recorded, never waited for.
"""

from __future__ import annotations

import email.utils
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pytest_aicr.breaker import BreakerSettings
from pytest_aicr.client import EndpointSettings, ModelGateway, StageRequest
from pytest_aicr.completion import Answer
from pytest_aicr.dataset import Sample
from pytest_aicr.errors import NoKey, StageError
from pytest_aicr.keys import ApiKey
from pytest_aicr.retry import RetrySettings, retry_after
from tests.fakeserver import FakeServer, Reply, Seen

KEYS = [ApiKey(f"sk-test-key-number-{i}-abcdefgh{i:04d}", i) for i in range(3)]
SAMPLE = Sample(
    input_id="S1", code="+x = 1", comments=(), source=Path("s.jsonl"), line=1
)


class FakeClock:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingKeys:
    """A key source that takes turns and remembers what it was told."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = list(keys)
        self.removed: list[str] = []
        self.cooled: list[tuple[str, float | None]] = []
        self.on_acquire: Callable[[], None] = lambda: None
        self._turn = itertools.count()

    @property
    def keys(self) -> Sequence[ApiKey]:
        return self._keys

    def acquire(self) -> ApiKey:
        live = [k for k in self._keys if k.label not in self.removed]
        if not live:
            raise NoKey("no usable API key")
        self.on_acquire()
        return live[next(self._turn) % len(live)]

    def cool_down(self, key: ApiKey, seconds: float | None) -> None:
        self.cooled.append((key.label, seconds))

    def remove(self, key: ApiKey) -> None:
        self.removed.append(key.label)


def request(**params: object) -> StageRequest:
    return StageRequest(
        stage="check",
        model="m",
        messages=({"role": "user", "content": "review this"},),
        params={"max_tokens": 100, **params},
        sample=SAMPLE,
    )


def then_ok(*first: Reply) -> Callable[[Seen], Reply]:
    """Answer the given replies in turn, then 200 ok for ever."""
    replies: Iterator[Reply] = iter(first)
    return lambda seen: next(replies, Reply())


@pytest.fixture
def gateway(
    fake_server: Callable[..., FakeServer],
) -> Iterator[Callable[..., tuple[ModelGateway, FakeServer, FakeClock, RecordingKeys]]]:
    made: list[ModelGateway] = []

    def make(
        script: Callable[[Seen], Reply], *, keys: int = 1, timeout: float = 5.0, **kw
    ) -> tuple[ModelGateway, FakeServer, FakeClock, RecordingKeys]:
        server = fake_server(script)
        clock = FakeClock()
        source = RecordingKeys(KEYS[:keys])
        settings = EndpointSettings(
            base_url=server.url,
            keys=source,
            timeout=timeout,
            retry=kw.pop("retry", RetrySettings(attempts=4, base=1.0)),
            breaker=kw.pop("breaker", BreakerSettings(threshold=100)),
            sleep=clock.sleep,
            clock=clock,
        )
        made.append(ModelGateway(settings))
        return made[-1], server, clock, source

    yield make
    for item in made:
        item.close()


def test_200_is_used(gateway) -> None:
    gw, server, clock, _ = gateway(then_ok())
    answer = gw.complete(request())
    assert answer == Answer(
        text='{"comments": []}',
        finish_reason="stop",
        usage={"prompt_tokens": 10, "completion_tokens": 5},
    )
    assert (len(server.seen), clock.sleeps) == (1, [])


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_status_is_retried_with_backoff(gateway, status: int) -> None:
    gw, server, clock, _ = gateway(then_ok(Reply(status=status), Reply(status=status)))
    assert gw.complete(request()).finish_reason == "stop"
    assert len(server.seen) == 3
    first, second = clock.sleeps
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (408, "timeout"),
        (429, "rate_limited"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (504, "server_error"),
    ],
)
def test_retries_are_bounded(gateway, status: int, category: str) -> None:
    gw, server, clock, _ = gateway(lambda seen: Reply(status=status))
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert caught.value.category == category
    assert caught.value.status == status
    assert len(server.seen) == 4
    assert len(clock.sleeps) == 3


def test_total_time_per_call_is_bounded(gateway) -> None:
    reply = Reply(status=503, headers={"Retry-After": "400"})
    gw, server, clock, _ = gateway(
        lambda seen: reply, retry=RetrySettings(attempts=10, max_time=1000)
    )
    with pytest.raises(StageError, match="HTTP 503"):
        gw.complete(request())
    assert clock.sleeps == [400.0, 400.0]
    assert len(server.seen) == 3


def test_waiting_for_a_key_is_not_charged_to_the_call(gateway) -> None:
    gw, server, clock, source = gateway(
        then_ok(Reply(status=503), Reply(status=503)),
        retry=RetrySettings(attempts=6, max_time=60),
    )
    source.on_acquire = lambda: clock.sleep(100.0)
    assert gw.complete(request()).finish_reason == "stop"
    assert len(server.seen) == 3
    assert gw.stats.as_json()["keys"][KEYS[0].label]["waited_s"] == 300.0


def test_timeout_is_retried(gateway) -> None:
    gw, server, _, _ = gateway(then_ok(Reply(delay=1.0)), timeout=0.3)
    assert gw.complete(request()).text == '{"comments": []}'
    assert len(server.seen) == 2


def test_timeouts_used_up_are_a_timeout_error(gateway) -> None:
    gw, server, _, _ = gateway(
        lambda seen: Reply(delay=0.6), timeout=0.2, retry=RetrySettings(attempts=2)
    )
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert (caught.value.category, len(server.seen)) == ("timeout", 2)


def test_connection_reset_is_retried(gateway) -> None:
    gw, server, _, _ = gateway(then_ok(Reply(reset=True), Reply(reset=True)))
    assert gw.complete(request()).finish_reason == "stop"
    assert len(server.seen) == 3


def test_resets_used_up_are_a_connection_error(gateway) -> None:
    gw, _, _, _ = gateway(lambda seen: Reply(reset=True))
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert caught.value.category == "connection"
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("reply", "category"),
    [
        (Reply(status=400), "bad_request"),
        (
            Reply(
                status=400,
                body='{"error": {"message": "This model\'s maximum context '
                'length is 8192 tokens"}}',
            ),
            "too_long",
        ),
        (Reply(status=404), "bad_request"),
        (Reply(status=450), "input_refused"),
        (Reply(status=451), "output_refused"),
    ],
)
def test_final_statuses_are_not_retried(gateway, reply: Reply, category: str) -> None:
    gw, server, clock, _ = gateway(lambda seen: reply)
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert caught.value.category == category
    assert caught.value.status == reply.status
    assert caught.value.stage == "check"
    assert (len(server.seen), clock.sleeps) == (1, [])


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_leaves_and_the_call_moves_on(gateway, status: int) -> None:
    bad = KEYS[0].secret[-4:]
    gw, server, clock, source = gateway(
        lambda seen: Reply(status=status) if seen.key == bad else Reply(), keys=3
    )
    for _ in range(4):
        assert gw.complete(request()).finish_reason == "stop"
    assert source.removed == [KEYS[0].label]
    assert [s.key for s in server.seen].count(bad) == 1
    assert clock.sleeps == []


def test_no_key_when_every_key_is_rejected(gateway) -> None:
    gw, server, _, source = gateway(lambda seen: Reply(status=401), keys=2)
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert (caught.value.category, caught.value.status) == ("no_key", 401)
    assert len(server.seen) == 2
    assert len(source.removed) == 2
    for key in KEYS:
        assert key.secret not in caught.value.message


def test_retry_after_seconds_is_honoured(gateway) -> None:
    gw, _, clock, _ = gateway(then_ok(Reply(status=503, headers={"Retry-After": "7"})))
    gw.complete(request())
    assert clock.sleeps == [7.0]


def test_retry_after_ms_is_honoured(gateway) -> None:
    headers = {"retry-after-ms": "250", "Retry-After": "9"}
    gw, _, clock, _ = gateway(then_ok(Reply(status=502, headers=headers)))
    gw.complete(request())
    assert clock.sleeps == [0.25]


def test_retry_after_http_date_is_honoured(gateway) -> None:
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    gw, _, clock, _ = gateway(then_ok(Reply(status=503, headers={"Retry-After": when})))
    gw.complete(request())
    assert 28.0 <= clock.sleeps[0] <= 30.0


def test_429_rests_the_key_for_as_long_as_asked(gateway) -> None:
    gw, server, clock, source = gateway(
        then_ok(Reply(status=429, headers={"Retry-After": "12"})), keys=2
    )
    gw.complete(request())
    assert source.cooled == [(KEYS[0].label, 12.0)]
    assert [s.key for s in server.seen] == [KEYS[0].secret[-4:], KEYS[1].secret[-4:]]
    assert clock.sleeps[0] < 12.0


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "99999999"}, {"retry-after-ms": "99999999000"}]
)
def test_a_429_asking_more_than_the_time_left_ends_the_call_at_once(
    gateway, headers: dict[str, str]
) -> None:
    gw, server, clock, source = gateway(
        lambda seen: Reply(status=429, headers=headers),
        retry=RetrySettings(attempts=6, max_time=10),
    )
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert caught.value.category == "rate_limited"
    assert "asked to wait 99999999 s" in caught.value.one_line()
    assert len(server.seen) == 1
    assert clock.sleeps == []
    assert source.cooled == [(KEYS[0].label, 10.0)]


def test_429_without_retry_after_lets_the_key_source_decide(gateway) -> None:
    gw, _, _, source = gateway(then_ok(Reply(status=429)))
    gw.complete(request())
    assert source.cooled == [(KEYS[0].label, None)]


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after({"retry-after": "3"}, now) == 3.0
    assert retry_after({"retry-after": "1.5"}, now) == 1.5
    assert retry_after({"retry-after": date}, now) == pytest.approx(90.0)
    assert retry_after({"retry-after": email.utils.formatdate(now - 5)}, now) == 0.0
    assert retry_after({"retry-after-ms": "40"}, now) == 0.04
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({"retry-after": "-3"}, now) is None
    assert retry_after({}, now) is None


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>"),
        Reply(status=502, body=""),
        Reply(status=200, body=""),
        Reply(status=200, body="<html>maintenance</html>"),
    ],
)
def test_odd_bodies_are_retried_not_crashed_on(gateway, reply: Reply) -> None:
    gw, server, _, _ = gateway(then_ok(reply))
    assert gw.complete(request()).finish_reason == "stop"
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    "choices", ["[]", "null", '[{"index": 0}]', '[{"index": 0, "message": null}]']
)
def test_no_choice_or_message_is_bad_output(gateway, choices: str) -> None:
    body = '{"id": "x", "object": "chat.completion", "created": 0, "model": "m", '
    gw, server, _, _ = gateway(lambda seen: Reply(body=f'{body}"choices": {choices}}}'))
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert (caught.value.category, len(server.seen)) == ("bad_output", 1)


def test_content_that_is_not_text_is_no_text(gateway) -> None:
    body = '{"choices": [{"index": 0, "message": {"content": 5}}]}'
    gw, _, _, _ = gateway(lambda seen: Reply(body=body))
    assert gw.complete(request()).text is None


def test_error_messages_are_masked_and_short(gateway) -> None:
    secret = KEYS[0].secret
    body = f'{{"error": "bad key {secret} ' + "x" * 2000 + '"}'
    gw, _, _, _ = gateway(lambda seen: Reply(status=400, body=body))
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert secret not in caught.value.message
    assert KEYS[0].label in caught.value.message
    assert len(caught.value.message) <= 300


def test_a_prompt_that_cannot_fit_is_too_long_before_any_call(gateway) -> None:
    gw, server, _, _ = gateway(then_ok())
    with pytest.raises(StageError) as caught:
        gw.complete(request(context_tokens=100, max_tokens=97))
    assert caught.value.category == "too_long"
    assert server.seen == []
    gw.complete(request(context_tokens=200, max_tokens=95))
    assert "context_tokens" not in server.seen[0].body


def test_per_key_accounting(gateway) -> None:
    gw, _, _, _ = gateway(then_ok(Reply(status=500), Reply(status=429)), keys=2)
    gw.complete(request())
    gw.complete(request())
    stats = gw.stats.as_json()["keys"]
    first, second = (stats[key.label] for key in KEYS[:2])
    assert first["failures"] == {"500": 1}
    assert second["failures"] == {"429": 1}
    assert first["requests"] + second["requests"] == 4
    assert first["successes"] + second["successes"] == 2
    assert first["prompt_tokens"] + second["prompt_tokens"] == 20
    assert all(secret.secret not in str(stats) for secret in KEYS)


def test_a_key_source_that_keeps_a_rejected_key_cannot_loop_for_ever(gateway) -> None:
    gw, server, _, source = gateway(lambda seen: Reply(status=403), keys=2)
    source.remove = lambda key: None  # type: ignore[method-assign]
    with pytest.raises(StageError) as caught:
        gw.complete(request())
    assert (caught.value.category, caught.value.status) == ("no_key", 403)
    assert len(server.seen) == 3
