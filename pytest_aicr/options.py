"""Command-line options, their ini keys and the YAML config, read into Settings.

Every option ``--aicr-<name>`` also has the ini key ``aicr_<name>`` and a place in
the YAML config (``<name>`` with dashes or underscores); the command line wins over
the ini file, which wins over the YAML config.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.configfile import read_config_file
from pytest_aicr.cost import parse_prices
from pytest_aicr.errors import ConfigError

# name: (help, default, is_list)
OPTIONS: dict[str, tuple[str, Any, bool]] = {
    "dataset": (
        "dataset file or folder; repeatable; the plugin is off without one",
        None,
        True,
    ),
    "config": (
        "YAML with variants, endpoints, field map and gates "
        "(default: aicr.yaml in the rootdir when present)",
        None,
        False,
    ),
    "strategy": ("check, check-review or check-reflect-review; repeatable", None, True),
    "model": (
        "model of the check stage; repeatable, one variant each "
        "(default builtin:rules, the offline reviewer)",
        None,
        True,
    ),
    "reflect-model": (
        "model of the reflect stage (default: the check model)",
        None,
        False,
    ),
    "review-model": (
        "model of the review stage (default: the check model)",
        None,
        False,
    ),
    "base-url": (
        "OpenAI-compatible endpoint (env AICR_BASE_URL, else OPENAI_BASE_URL)",
        None,
        False,
    ),
    "keys-env": (
        "env var holding comma-separated API keys (default AICR_API_KEYS, "
        "else OPENAI_API_KEY)",
        None,
        False,
    ),
    "timeout": ("per-request timeout in seconds (default 120)", None, False),
    "rate-limit": (
        "requests per key in any rate window, across every process (default 3)",
        None,
        False,
    ),
    "rate-window": ("the rate window in seconds (default 60)", None, False),
    "limiter": (
        "key-pool store: an SQLite file path (default: in the cache directory) "
        "or redis://host:port/db",
        None,
        False,
    ),
    "concurrency": (
        "chains in flight per process (default: 4 per API key, at least 4)",
        None,
        False,
    ),
    "similarity": (
        "matching threshold on cosine similarity (default 0.6)",
        None,
        False,
    ),
    "ro-scope": (
        "sample or comment: where predictions matching a 'no change "
        "needed' comment count as RO (default sample)",
        None,
        False,
    ),
    "min": ("gate METRIC=VALUE, e.g. f1=0.4; repeatable", None, True),
    "max-errors": (
        "item errors tolerated before the run fails (default 0)",
        None,
        False,
    ),
    "pos-neg-ratio": (
        "bring positives:negatives to R by dropping seeded-random "
        "samples of the class in excess",
        None,
        False,
    ),
    "limit": ("keep only the first N samples", None, False),
    "seed": ("seed of every random choice (default 0)", None, False),
    "results": ("write the results JSON to this path", None, False),
    "shard": (
        "I/N: keep only this runner's share of the samples, by a stable "
        "hash of the input_id",
        None,
        False,
    ),
    "run-id": (
        "id shared by the runners of one run: they share keys taken out of the "
        "pool (default: the CI system's run id)",
        None,
        False,
    ),
    "cache": (
        "response cache mode: rw (default), ro (replay only), off, refresh",
        None,
        False,
    ),
    "cache-dir": (
        "response cache folder (default .aicr_cache in the rootdir)",
        None,
        False,
    ),
    "retry-attempts": (
        "attempts per call on transient failures (default 6)",
        None,
        False,
    ),
    "retry-max-time": (
        "seconds one call may spend retrying (default 600)",
        None,
        False,
    ),
    "retry-base": (
        "first backoff in seconds, doubled per retry (default 1)",
        None,
        False,
    ),
    "breaker-threshold": (
        "consecutive endpoint failures that pause all calls (default 5)",
        None,
        False,
    ),
    "breaker-cooldown": (
        "seconds an open breaker pauses calls (default 30)",
        None,
        False,
    ),
    "breaker-patience": (
        "seconds of outage before the remaining items end as breaker_open "
        "(default 600)",
        None,
        False,
    ),
    "baseline": (
        "results JSON of an earlier run to gate against with --aicr-max-drop",
        None,
        False,
    ),
    "max-drop": (
        "gate METRIC=DELTA: fail when a metric falls more than DELTA below the "
        "baseline (or, without one, below the first variant); repeatable",
        None,
        True,
    ),
    "xlsx": ("write a metrics sheet and a per-item sheet to this .xlsx", None, False),
}

_CONFIG_ONLY = {"variants", "fields", "labels", "prices"}

# upper bounds: a larger value is a typo, and would overflow the clock or a thread pool
HOUR = 3600.0
DAY = 24 * HOUR
MANY = 1e9
MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, after command line, ini and YAML are merged."""

    datasets: list[Path]
    rootdir: Path
    strategies: list[str] = field(default_factory=lambda: ["check"])
    models: list[str] = field(default_factory=lambda: ["builtin:rules"])
    reflect_model: str | None = None
    review_model: str | None = None
    base_url: str | None = None
    keys_env: str | None = None
    timeout: float = 120.0
    rate_limit: int = 3
    rate_window: float = 60.0
    limiter: str | None = None
    concurrency: int | None = None
    similarity: float = 0.6
    ro_scope: str = "sample"
    minimums: list[str] = field(default_factory=list)
    max_errors: int = 0
    pos_neg_ratio: float | None = None
    limit: int | None = None
    seed: int = 0
    results: Path | None = None
    shard: tuple[int, int] | None = None
    run_id: str | None = None
    cache: str = "rw"
    cache_dir: Path | None = None
    retry_attempts: int = 6
    retry_max_time: float = 600.0
    retry_base: float = 1.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    breaker_patience: float = 600.0
    variants: list[Mapping[str, Any]] = field(default_factory=list)
    fields: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Any] = field(default_factory=dict)
    baseline: Path | None = None
    max_drops: list[str] = field(default_factory=list)
    xlsx: Path | None = None
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--aicr-*`` options and ``aicr_*`` ini keys."""
    group = parser.getgroup("aicr", "AI code reviewer evaluation (pytest-aicr)")
    for name, (help_text, _default, is_list) in OPTIONS.items():
        dest = "aicr_" + name.replace("-", "_")
        action = "append" if is_list else "store"
        group.addoption(f"--aicr-{name}", action=action, dest=dest, help=help_text)
        if is_list:
            parser.addini(dest, help=help_text, type="linelist")
        else:
            parser.addini(dest, help=help_text, type="string")


def read_settings(config: pytest.Config) -> Settings | None:
    """The run's settings, or ``None`` when no dataset is given (plugin off)."""
    yaml_config = _load_yaml_config(config)
    datasets = _raw(config, "dataset", yaml_config)
    if not datasets:
        return None
    raw = {name: _raw(config, name, yaml_config) for name in OPTIONS}
    base = config.invocation_params.dir
    return Settings(
        datasets=[_path(base, p) for p in raw["dataset"] or datasets],
        rootdir=config.rootpath,
        strategies=raw["strategy"] or ["check"],
        models=raw["model"] or ["builtin:rules"],
        reflect_model=raw["reflect-model"],
        review_model=raw["review-model"],
        base_url=raw["base-url"]
        or os.environ.get("AICR_BASE_URL")
        or os.environ.get("OPENAI_BASE_URL"),
        keys_env=raw["keys-env"],
        timeout=_number(raw["timeout"], "timeout", 120.0, low=0.1, high=DAY),
        rate_limit=_optional_int(raw["rate-limit"], "rate-limit", MANY) or 3,
        rate_window=_number(
            raw["rate-window"], "rate-window", 60.0, low=0.01, high=DAY
        ),
        limiter=raw["limiter"],
        concurrency=_optional_int(raw["concurrency"], "concurrency", MAX_CONCURRENCY),
        similarity=_number(raw["similarity"], "similarity", 0.6, low=-1.0, high=1.0),
        ro_scope=_choice(raw["ro-scope"], "ro-scope", ("sample", "comment")),
        minimums=list(raw["min"] or []),
        max_errors=int(_number(raw["max-errors"], "max-errors", 0, low=0, high=MANY)),
        pos_neg_ratio=_optional_number(raw["pos-neg-ratio"], "pos-neg-ratio", MANY),
        limit=_optional_int(raw["limit"], "limit", MANY),
        seed=int(_number(raw["seed"], "seed", 0, low=-(2**63), high=2**63)),
        results=_path(base, raw["results"]) if raw["results"] else None,
        shard=_shard(raw["shard"]),
        run_id=raw["run-id"],
        cache=_choice(raw["cache"], "cache", ("rw", "ro", "off", "refresh")),
        cache_dir=_path(base, raw["cache-dir"]) if raw["cache-dir"] else None,
        retry_attempts=int(
            _number(raw["retry-attempts"], "retry-attempts", 6, low=1, high=1000)
        ),
        retry_max_time=_number(
            raw["retry-max-time"], "retry-max-time", 600, low=0, high=DAY
        ),
        retry_base=_number(raw["retry-base"], "retry-base", 1.0, low=0, high=HOUR),
        breaker_threshold=int(
            _number(raw["breaker-threshold"], "breaker-threshold", 5, low=1, high=MANY)
        ),
        breaker_cooldown=_number(
            raw["breaker-cooldown"], "breaker-cooldown", 30, low=0, high=DAY
        ),
        breaker_patience=_number(
            raw["breaker-patience"], "breaker-patience", 600, low=0, high=DAY
        ),
        variants=_config_list(yaml_config, "variants"),
        fields=_config_mapping(yaml_config, "fields"),
        labels=_config_mapping(yaml_config, "labels"),
        baseline=_path(base, raw["baseline"]) if raw["baseline"] else None,
        max_drops=list(raw["max-drop"] or []),
        xlsx=_path(base, raw["xlsx"]) if raw["xlsx"] else None,
        prices=parse_prices(yaml_config.get("prices")),
    )


def _config_list(yaml_config: Mapping[str, Any], name: str) -> list[Any]:
    value = yaml_config.get(name) or []
    if not isinstance(value, list):
        raise ConfigError(f"config `{name}`: expected a list, got {value!r}")
    return value


def _config_mapping(yaml_config: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = yaml_config.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"config `{name}`: expected a mapping such as {{input_id: id}}, "
            f"got {type(value).__name__}"
        )
    return value


def _raw(config: pytest.Config, name: str, yaml_config: Mapping[str, Any]) -> Any:
    dest = "aicr_" + name.replace("-", "_")
    value = config.getoption(dest)
    if value is None or value == []:
        value = config.getini(dest) or None
    if value is None and yaml_config.get(name) is not None:
        value = _yaml_option(name, yaml_config[name])
    return value


def _yaml_option(name: str, value: Any) -> Any:
    """A config-file value in the form the command line would give it."""
    if OPTIONS[name][2]:
        if isinstance(value, Mapping):  # e.g. max-drop: {f1: 0.02}
            return [f"{key}={item}" for key, item in value.items()]
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, Mapping | list) for item in items):
            raise ConfigError(f"config `{name}`: expected text values, got {value!r}")
        return [str(item) for item in items]
    if isinstance(value, Mapping | list):
        raise ConfigError(f"config `{name}`: expected one value, got {value!r}")
    return value if isinstance(value, str) else str(value)


def _load_yaml_config(config: pytest.Config) -> dict[str, Any]:
    named = config.getoption("aicr_config") or config.getini("aicr_config") or None
    path = _path(config.invocation_params.dir, named) if named else None
    if path is None:
        default = config.rootpath / "aicr.yaml"
        if not default.is_file():
            return {}
        path = default
    loaded = read_config_file(path)
    normalised = {str(key).replace("_", "-"): value for key, value in loaded.items()}
    known = set(OPTIONS) | _CONFIG_ONLY
    for key in normalised:
        if key not in known:
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"config {path}: unknown key {key!r}{suggestion}")
    return normalised


def _path(base: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _number(
    value: Any,
    name: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--aicr-{name}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"--aicr-{name}: {value!r} is not a finite number")
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            bounds = f"at least {low:g}"
        elif low is None:
            bounds = f"at most {high:g}"
        else:
            bounds = f"between {low:g} and {high:g}"
        raise ConfigError(f"--aicr-{name}: {value!r} must be {bounds}")
    return number


def _optional_number(value: Any, name: str, high: float) -> float | None:
    if value is None:
        return None
    number = _number(value, name, 0.0, high=high)
    if number <= 0:
        raise ConfigError(f"--aicr-{name}: {value!r} must be greater than 0")
    return number


def _optional_int(value: Any, name: str, high: float) -> int | None:
    if value is None:
        return None
    number = _number(value, name, 0.0, low=1, high=high)
    if number != int(number):
        raise ConfigError(f"--aicr-{name}: {value!r} must be a whole number")
    return int(number)


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value is None:
        return choices[0]
    if value not in choices:
        raise ConfigError(
            f"--aicr-{name}: {value!r} is not one of {', '.join(choices)}"
        )
    return str(value)


def _shard(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    index, _, count = str(value).partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise ConfigError(
            f"--aicr-shard: {value!r} must be I/N with 1 <= I <= N, e.g. 2/3"
        )
    return int(index), int(count)
