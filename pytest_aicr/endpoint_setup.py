"""Wiring a run to its endpoint: who needs keys, the shared key store, the settings.

Models other than ``builtin:rules`` need an endpoint and keys; those are checked
when the run starts, so a missing one is one usage error rather than a failure in
every item.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from pytest_aicr.breaker import BreakerSettings
from pytest_aicr.client import BUILTIN_MODEL, EndpointSettings
from pytest_aicr.errors import ConfigError
from pytest_aicr.keypool import Budget, Reservation, open_store, run_id
from pytest_aicr.keys import (
    KeySource,
    check_keys,
    key_masks,
    keys_from_env,
    keys_variable,
)
from pytest_aicr.options import Settings
from pytest_aicr.retry import RetrySettings
from pytest_aicr.scrubbing import guard_logging, protect, scrub, url_secrets


def cache_folder(settings: Settings) -> Path:
    """The run's cache folder: responses and the key-pool store live there."""
    return settings.cache_dir or settings.rootdir / ".aicr_cache"


def guard_secrets(settings: Settings) -> None:
    """Mask the run's keys and URL credentials in everything it stores or logs."""
    protect(key_masks(keys_from_env(settings.keys_env)))
    protect(url_secrets(settings.base_url))
    protect(url_secrets(settings.limiter))
    guard_logging()


def open_key_store(settings: Settings, models: Iterable[str]) -> Reservation | None:
    """The shared key-pool store when some model needs a key (DESIGN 6), else None."""
    remote = sorted(set(models) - {BUILTIN_MODEL})
    if not remote:
        return None
    check_endpoint(settings, remote)
    budget = Budget(
        settings.rate_limit, settings.rate_window, run_id=run_id(settings.run_id)
    )
    return open_store(settings.limiter, cache_folder(settings), budget)


def check_endpoint(settings: Settings, remote: list[str]) -> None:
    """Fail at start-up when remote models cannot be called."""
    if not settings.base_url:
        raise ConfigError(
            f"model {remote[0]!r} needs an endpoint: set --aicr-base-url, "
            "AICR_BASE_URL or OPENAI_BASE_URL (model builtin:rules runs offline)"
        )
    check_base_url(settings.base_url)
    keys = keys_from_env(settings.keys_env)
    check_keys(keys, keys_variable(settings.keys_env))
    if settings.cache != "ro" and not keys:
        where = settings.keys_env or "AICR_API_KEYS"
        raise ConfigError(
            f"model {remote[0]!r} needs an API key: set {where} (comma-separated "
            "keys) or OPENAI_API_KEY"
        )


def check_base_url(url: str) -> None:
    """An endpoint URL the HTTP client can use: http(s), a host, a numeric port."""
    problem = None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("http", "https"):
            problem = "it must start with http:// or https://"
        elif not parts.hostname:
            problem = "it names no host"
    if problem is not None:
        raise ConfigError(
            f"endpoint {scrub(url)} is not a usable URL ({problem}); fix "
            "--aicr-base-url, AICR_BASE_URL or OPENAI_BASE_URL"
        )


def endpoint_settings(settings: Settings, keys: KeySource) -> EndpointSettings:
    """The gateway's settings from the run's options."""
    return EndpointSettings(
        base_url=settings.base_url,
        keys=keys,
        timeout=settings.timeout,
        retry=RetrySettings(
            attempts=settings.retry_attempts,
            max_time=settings.retry_max_time,
            base=settings.retry_base,
        ),
        breaker=BreakerSettings(
            threshold=settings.breaker_threshold,
            cooldown=settings.breaker_cooldown,
            patience=settings.breaker_patience,
        ),
        cache_mode=settings.cache,
        cache_dir=cache_folder(settings),
    )


def chain_concurrency(settings: Settings) -> int:
    """Chains in flight per process: as given, else four per key (at least four)."""
    if settings.concurrency is not None:
        return settings.concurrency
    return max(4, 4 * len(keys_from_env(settings.keys_env)))
