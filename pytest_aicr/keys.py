"""API keys: read from the environment, shown only masked."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

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


def scrub(text: str, keys: list[ApiKey]) -> str:
    """Replace every key's text in ``text`` with its masked form."""
    for key in keys:
        if key.secret:
            text = text.replace(key.secret, key.label)
    return text
