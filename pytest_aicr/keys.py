"""API keys: read from the environment, shown only masked."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pytest_aicr.errors import ConfigError, NoKey

_LONG_KEY = 16


@dataclass(frozen=True)
class ApiKey:
    """A key and its position in the list; its text is never shown."""

    secret: str
    index: int

    @property
    def label(self) -> str:
        """``...last4`` for a key of 16 characters or more, else ``key#N``."""
        return mask_key(self.secret, self.index)

    @property
    def digest(self) -> str:
        """A stable hash that identifies the key in shared stores."""
        return hashlib.sha256(self.secret.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"ApiKey({self.label})"


def mask_key(secret: str, index: int) -> str:
    """The only form in which a key may appear in output."""
    if len(secret) >= _LONG_KEY:
        return f"...{secret[-4:]}"
    return f"key#{index + 1}"


def keys_from_env(env_name: str | None) -> list[ApiKey]:
    """Keys from a comma-separated env var (default ``AICR_API_KEYS``).

    Falls back to ``OPENAI_API_KEY`` when the named variable is unset or empty.
    """
    raw = os.environ.get(env_name or "AICR_API_KEYS", "")
    if not raw.strip():
        raw = os.environ.get("OPENAI_API_KEY", "")
    parts = [part.strip() for part in raw.split(",")]
    return [ApiKey(secret, i) for i, secret in enumerate(p for p in parts if p)]


def keys_variable(env_name: str | None) -> str:
    """The environment variable the run's keys come from."""
    name = env_name or "AICR_API_KEYS"
    return name if os.environ.get(name, "").strip() else "OPENAI_API_KEY"


def check_keys(keys: Sequence[ApiKey], where: str) -> None:
    """Refuse a key no HTTP header can carry, naming it without its text.

    A key is printable ASCII without spaces, quotes or backslashes; anything else
    would leak through the HTTP client's errors or fail in every request.
    """
    for key in keys:
        bad = next((i for i, c in enumerate(key.secret) if not _key_char(c)), None)
        if bad is None:
            continue
        last4 = key.secret[-4:]
        shown = f" ({key.label})" if all(map(_key_char, last4)) else ""
        raise ConfigError(
            f"API key {key.index + 1} in {where}{shown} holds character "
            f"U+{ord(key.secret[bad]):04X} at position {bad + 1}: a key must be "
            "printable ASCII without spaces, quotes or backslashes; fix the key "
            f"in {where}"
        )


def _key_char(char: str) -> bool:
    return "!" <= char <= "~" and char not in "\"'\\"


def key_masks(keys: Sequence[ApiKey]) -> dict[str, str]:
    """Each key's text with its label, for :func:`pytest_aicr.scrubbing.protect`."""
    return {key.secret: key.label for key in keys}


class KeySource(Protocol):
    """Hands out keys for requests and hears how they fared.

    ``acquire`` blocks until a key may be used without exceeding its budget and
    raises :class:`~pytest_aicr.errors.NoKey` once every key has been taken out.
    """

    def acquire(self) -> ApiKey:
        """A key that may send one request now."""
        ...

    def cool_down(self, key: ApiKey, seconds: float | None) -> None:
        """The server answered 429: rest this key (``None``: the source decides)."""
        ...

    def remove(self, key: ApiKey) -> None:
        """The server rejected this key (401/403): take it out for the whole run."""
        ...

    @property
    def keys(self) -> Sequence[ApiKey]:
        """Every key given to the run, removed ones included."""
        ...


class RoundRobinKeys:
    """Keys in turn within one process, with no rate limit."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = list(keys)
        self._removed: set[int] = set()
        self._resting_until: dict[int, float] = {}
        self._turn = 0
        self._lock = threading.Lock()

    @property
    def keys(self) -> Sequence[ApiKey]:
        """Every key given to the run."""
        return self._keys

    def acquire(self) -> ApiKey:
        """The next key that is neither removed nor resting, in turn."""
        with self._lock:
            live = [k for k in self._keys if k.index not in self._removed]
            if not live:
                raise NoKey(
                    "no usable API key: set AICR_API_KEYS (comma-separated) or "
                    "OPENAI_API_KEY; keys rejected with 401/403 were taken out"
                )
            now = time.monotonic()
            key = min(
                live,
                key=lambda k: (
                    max(self._resting_until.get(k.index, 0.0), now),
                    (k.index - self._turn) % len(self._keys),
                ),
            )
            self._turn = key.index + 1
            wait = self._resting_until.get(key.index, 0.0) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        return key

    def cool_down(self, key: ApiKey, seconds: float | None) -> None:
        """Rest the key for ``seconds`` (1 s when unknown)."""
        with self._lock:
            until = time.monotonic() + (1.0 if seconds is None else seconds)
            self._resting_until[key.index] = until

    def remove(self, key: ApiKey) -> None:
        """Take the key out of the rotation."""
        with self._lock:
            self._removed.add(key.index)
