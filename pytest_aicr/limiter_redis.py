"""The key pool's store on a Redis server, shared by processes on many machines.

Each decision is one Lua script, which Redis runs atomically, and it reads the
server's clock, so machines whose clocks disagree still share one budget: the
script answers with a delay, not a time. The rules are those of the SQLite store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_aicr.errors import ConfigError, ConnectionFailed
from pytest_aicr.keypool import LOCK_TIMEOUT, MAX_REST, STATE_TTL, Budget
from pytest_aicr.scrubbing import scrub

_PREFIX = "aicr:keypool:"

# ARGV: limit, span, now (empty: the server's clock), then those of each script.
_COMMON = f"""
local max_rest = {MAX_REST!r}
local limit = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local now
if ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function trim(list)
  while true do
    local first = redis.call('LINDEX', list, 0)
    if not first or tonumber(first) > now - span then return end
    redis.call('LPOP', list)
  end
end
local function readiness(list, cool)
  trim(list)
  local ready = now
  local until_ = tonumber(redis.call('HGET', cool, 'until') or '0')
  if until_ > now + max_rest then until_ = now + max_rest end
  if until_ > ready then ready = until_ end
  local uses = redis.call('LLEN', list)
  if uses >= limit then
    local nth = tonumber(redis.call('LINDEX', list, -limit))
    if nth + span > ready then ready = nth + span end
  end
  local last = tonumber(redis.call('LINDEX', list, -1) or '-1e18')
  return ready, uses, last
end
"""

# KEYS: removed set, one slot list per key, one cool hash per key. ARGV 4...: digests.
_RESERVE = (
    _COMMON
    + """
local n = (#KEYS - 1) / 2
local best, best_ready, best_uses, best_last = 0, 0, 0, 0
for i = 1, n do
  if redis.call('SISMEMBER', KEYS[1], ARGV[3 + i]) == 0 then
    local ready, uses, last = readiness(KEYS[1 + i], KEYS[1 + n + i])
    if best == 0 or ready < best_ready
       or (ready == best_ready and (uses < best_uses
           or (uses == best_uses and last < best_last))) then
      best, best_ready, best_uses, best_last = i, ready, uses, last
    end
  end
end
if best == 0 then return {0, ''} end
redis.call('RPUSH', KEYS[1 + best], string.format('%.6f', best_ready))
redis.call('PEXPIRE', KEYS[1 + best], math.ceil((best_ready - now + 2 * span) * 1000))
return {best, string.format('%.6f', best_ready - now)}
"""
)

# KEYS: slot list, cool hash. ARGV: limit, span, now, seconds ('' if unknown).
_COOL_DOWN = (
    _COMMON
    + """
local strikes = tonumber(redis.call('HGET', KEYS[2], 'strikes') or '0')
local last_hit = tonumber(redis.call('HGET', KEYS[2], 'last_hit') or '-1e18')
if now - last_hit < span then strikes = strikes + 1 else strikes = 1 end
local seconds = tonumber(ARGV[4])
if not seconds then
  local ready = readiness(KEYS[1], KEYS[2])
  local base = math.max(ready - now, span / limit)
  seconds = math.min(span, base * 2 ^ (strikes - 1))
end
seconds = math.min(seconds, max_rest)
local until_ = math.min(math.max(
  tonumber(redis.call('HGET', KEYS[2], 'until') or '0'), now + seconds),
  now + max_rest)
redis.call('HSET', KEYS[2], 'until', string.format('%.6f', until_),
           'strikes', strikes, 'last_hit', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[2], math.ceil((until_ - now + 2 * span) * 1000))
return string.format('%.6f', seconds)
"""
)


class RedisReservation:
    """Slots, cool-downs and removed keys on a Redis server."""

    def __init__(
        self,
        url: str,
        budget: Budget,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import redis

        self.url = url
        self.budget = budget
        self._clock = clock
        self.notes: list[str] = []
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=lock_timeout, socket_connect_timeout=lock_timeout
        )
        self._reserve = self._client.register_script(_RESERVE)
        self._cool_down = self._client.register_script(_COOL_DOWN)

    def check(self) -> None:
        """Reach the server now; a failure is a usage problem."""
        import redis

        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise ConfigError(
                f"key pool store {scrub(self.url)}: cannot be reached "
                f"({type(exc).__name__}); start Redis or fix --aicr-limiter"
            ) from None

    def reserve(self, digests: Sequence[str]) -> tuple[int, float] | None:
        """Reserve the slot of the key that can serve soonest."""
        keys = [
            self._removed_key(),
            *(f"{_PREFIX}slots:{d}" for d in digests),
            *(f"{_PREFIX}cool:{d}" for d in digests),
        ]
        args = [*self._args(), *digests]
        index, delay = self._run(self._reserve, keys, args)
        if int(index) == 0:
            return None
        return int(index) - 1, float(delay)

    def cool_down(self, digest: str, seconds: float | None) -> float:
        """Rest the key; without ``seconds``: until its next slot, doubling."""
        keys = [f"{_PREFIX}slots:{digest}", f"{_PREFIX}cool:{digest}"]
        args = [*self._args(), "" if seconds is None else repr(seconds)]
        return float(self._run(self._cool_down, keys, args))

    def remove(self, digest: str) -> None:
        """Take the key out for this run; the mark expires by itself."""
        removed = self._removed_key()
        pipe = self._client.pipeline(transaction=True)
        pipe.sadd(removed, digest)
        pipe.expire(removed, int(STATE_TTL))
        self._run(pipe.execute)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _removed_key(self) -> str:
        return f"{_PREFIX}removed:{self.budget.run_id}"

    def _args(self) -> list[str]:
        now = "" if self._clock is None else repr(self._clock())
        return [str(self.budget.limit), repr(self.budget.span), now]

    def _run(self, call: Any, *args: Any) -> Any:
        import redis

        try:
            return call(*args)
        except redis.RedisError as exc:
            raise ConnectionFailed(
                f"key pool store {scrub(self.url)} unavailable ({type(exc).__name__})"
            ) from None
