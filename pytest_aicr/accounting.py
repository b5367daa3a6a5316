"""Accounting of endpoint calls: per key, for the cache, and the breaker's pauses.

Each process keeps a :class:`CallStats`; xdist workers hand theirs to the
controller as plain JSON (raw latencies included), where :func:`merge_stats` adds
them up and :func:`key_figures` turns them into the ``keys`` section of the
results. Keys appear only as their masked label.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aicr.keys import ApiKey

CACHE_COUNTERS = ("hits", "misses", "writes", "damaged")
_PERCENTILES = (50, 90, 99)


class CallStats:
    """What one process's calls did, safe to update from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, Any]] = {}
        self.cache = dict.fromkeys(CACHE_COUNTERS, 0)
        self.breaker: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def request(
        self,
        key: ApiKey,
        *,
        failure: str | None,
        latency: float,
        usage: Mapping[str, int] | None = None,
    ) -> None:
        """One request went out with ``key``; ``failure`` is its status or kind."""
        with self._lock:
            entry = self._entry(key)
            entry["requests"] += 1
            entry["latencies"].append(round(latency, 4))
            if failure is None:
                entry["successes"] += 1
            else:
                failures = entry["failures"]
                failures[failure] = failures.get(failure, 0) + 1
            for name in ("prompt_tokens", "completion_tokens"):
                entry[name] += int((usage or {}).get(name, 0))

    def waited(self, key: ApiKey, seconds: float) -> None:
        """A call waited ``seconds`` for ``key`` to be handed out."""
        with self._lock:
            self._entry(key)["waited_s"] += seconds

    def count_cache(self, counter: str) -> None:
        """Count a cache hit, miss, write or damaged entry."""
        with self._lock:
            self.cache[counter] += 1

    def note(self, text: str) -> bool:
        """Keep a warning for the terminal summary; False when already kept."""
        with self._lock:
            if text in self.notes:
                return False
            self.notes.append(text)
            return True

    def as_json(self) -> dict[str, Any]:
        """Everything, as plain JSON for sending between processes."""
        with self._lock:
            return {
                "keys": {
                    label: {
                        **entry,
                        "failures": dict(entry["failures"]),
                        "latencies": list(entry["latencies"]),
                    }
                    for label, entry in self._keys.items()
                },
                "cache": dict(self.cache),
                "breaker": list(self.breaker),
                "notes": list(self.notes),
            }

    def _entry(self, key: ApiKey) -> dict[str, Any]:
        return self._keys.setdefault(key.label, _empty_entry())


def merge_stats(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add up the stats of several processes."""
    keys: dict[str, dict[str, Any]] = {}
    cache = dict.fromkeys(CACHE_COUNTERS, 0)
    breaker: list[dict[str, Any]] = []
    notes: list[str] = []
    for part in parts:
        for label, entry in part.get("keys", {}).items():
            _add_key(keys.setdefault(label, _empty_entry()), entry)
        for name in CACHE_COUNTERS:
            cache[name] += int(part.get("cache", {}).get(name, 0))
        breaker.extend(part.get("breaker", []))
        notes.extend(n for n in part.get("notes", []) if n not in notes)
    return {"keys": keys, "cache": cache, "breaker": breaker, "notes": notes}


def _empty_entry() -> dict[str, Any]:
    return {
        "requests": 0,
        "successes": 0,
        "failures": {},
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latencies": [],
        "waited_s": 0.0,
    }


def _add_key(total: dict[str, Any], entry: Mapping[str, Any]) -> None:
    for name in ("requests", "successes", "prompt_tokens", "completion_tokens"):
        total[name] += int(entry.get(name, 0))
    total["waited_s"] += float(entry.get("waited_s", 0.0))
    total["latencies"].extend(entry.get("latencies", []))
    for status, count in entry.get("failures", {}).items():
        total["failures"][status] = total["failures"].get(status, 0) + count


def key_figures(merged: Mapping[str, Any]) -> dict[str, Any]:
    """The results' ``keys`` section: per key label, counts and latency percentiles."""
    figures = {}
    for label, entry in sorted(merged.get("keys", {}).items()):
        latencies = sorted(round(seconds, 3) for seconds in entry["latencies"])
        figures[label] = {
            "requests": entry["requests"],
            "successes": entry["successes"],
            "failures": dict(sorted(entry["failures"].items())),
            "prompt_tokens": entry["prompt_tokens"],
            "completion_tokens": entry["completion_tokens"],
            "latency_s": latency_percentiles(latencies),
            "latencies_s": latencies,
            "waited_s": round(entry["waited_s"], 3),
        }
    return figures


def latency_percentiles(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99 of call latencies; the list is kept so merged shards recompute."""
    ordered = sorted(latencies)
    return {f"p{p}": _percentile(ordered, p) for p in _PERCENTILES}


def _percentile(ordered: Sequence[float], percent: int) -> float | None:
    if not ordered:
        return None
    rank = max(0, -(-len(ordered) * percent // 100) - 1)
    return round(ordered[rank], 3)


def call_lines(keys: Mapping[str, Any], calls: Mapping[str, Any]) -> list[str]:
    """The terminal summary's lines on keys, cache and breaker pauses."""
    lines = []
    for label, entry in keys.items():
        failures = " ".join(f"{k}={v}" for k, v in entry["failures"].items())
        latency = " ".join(
            f"{name}={_seconds(value)}" for name, value in entry["latency_s"].items()
        )
        lines.append(
            f"key {label}: {entry['requests']} requests, {entry['successes']} ok"
            f"{', failed ' + failures if failures else ''}; tokens "
            f"{entry['prompt_tokens']}+{entry['completion_tokens']}; latency "
            f"{latency}; waited {entry['waited_s']:.1f} s"
        )
    cache = calls.get("cache") or {}
    if any(cache.values()):
        lines.append(
            f"cache: {cache['hits']} hits, {cache['misses']} misses, "
            f"{cache['writes']} written, {cache['damaged']} damaged entries recomputed"
        )
    for event in calls.get("breaker") or []:
        lines.append(_breaker_line(event))
    lines.extend(calls.get("notes") or [])
    if calls.get("partial"):
        lines.append(
            "key and cache figures are partial: the calls of crashed worker(s) "
            f"{', '.join(calls['partial'])} are not counted"
        )
    return lines


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}s"


def _breaker_line(event: Mapping[str, Any]) -> str:
    if event["event"] == "paused":
        return f"endpoint paused by the circuit breaker: {event['reason']}"
    if event["event"] == "resumed":
        return f"endpoint resumed after {event['after_s']:.1f} s"
    return (
        f"endpoint given up on after {event['after_s']:.1f} s down; "
        "the remaining items ended as breaker_open"
    )
