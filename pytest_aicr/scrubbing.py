"""Secrets out of every text a run stores or shows: one :func:`scrub` for all of it.

A run tells this module what is secret with :func:`protect`: each API key with its
masked label, and what :func:`url_secrets` finds in the endpoint and key-store URLs
(the userinfo, key-like query values, the Basic credentials an HTTP client makes of
them). :func:`scrub` replaces each with its masked form and hides the userinfo of
any other URL in the text. Error records, failure lines and reports call it; log
records of every logger (the HTTP libraries log URLs and response headers at DEBUG)
are scrubbed as they are made while :func:`guard_logging` is on.

The known secrets are per process, as logging is. A key is replaced wherever its
text occurs, so a very short key also masks that word in messages.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

_LONG_SECRET = 16
# a shorter password or query value is left to the URL pattern: masking it on its
# own would mask that word in every message
_SHORTEST_URL_SECRET = 6
# a bounded scheme keeps the search linear on long dotted text
_URL_USERINFO = re.compile(
    r"(?P<scheme>(?<![\w+.-])[A-Za-z][\w+.-]{0,15}://)(?P<info>[^/@\s]+)@"
)
_SECRET_QUERY_NAME = re.compile(r"key|token|secret|sig|pass|auth|code", re.IGNORECASE)

_lock = threading.Lock()
_known: dict[str, str] = {}
_longest_first: list[tuple[str, str]] = []
_previous_factory: Callable[..., logging.LogRecord] | None = None


def mask(secret: str) -> str:
    """``...`` and the last 4 characters of a long secret; ``...`` alone otherwise."""
    return f"...{secret[-4:]}" if len(secret) >= _LONG_SECRET else "..."


def protect(secrets: Mapping[str, str]) -> None:
    """Add secrets, each with the text that replaces it, to what :func:`scrub` hides."""
    global _longest_first
    with _lock:
        _known.update({secret: label for secret, label in secrets.items() if secret})
        _longest_first = sorted(_known.items(), key=lambda item: -len(item[0]))


def forget() -> None:
    """Drop every known secret (the run is over)."""
    global _longest_first
    with _lock:
        _known.clear()
        _longest_first = []


def url_secrets(url: str | None) -> dict[str, str]:
    """The secrets a URL carries, as written and decoded, each with its mask."""
    if not url:
        return {}
    netloc, query = _netloc_and_query(url)
    found: dict[str, str] = {}
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
    if userinfo:
        user, _, password = userinfo.partition(":")
        decoded = f"{unquote(user)}:{unquote(password)}"
        basic = base64.b64encode(decoded.encode("utf-8")).decode("ascii")
        label = mask(password or user)
        found[userinfo] = found[basic] = label
        for secret in {password or user, unquote(password or user)}:
            if len(secret) >= _SHORTEST_URL_SECRET:
                found[secret] = label
    for name, value in parse_qsl(query):
        if _SECRET_QUERY_NAME.search(name) and len(value) >= _SHORTEST_URL_SECRET:
            found[value] = mask(value)
    return found


def _netloc_and_query(url: str) -> tuple[str, str]:
    """The URL's authority and query, cut by hand when it does not parse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        rest = url.partition("//")[2] if "//" in url else url
        netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
        return netloc, url.partition("?")[2].partition("#")[0]
    return parts.netloc, parts.query


def scrub(text: str) -> str:
    """``text`` with every known secret masked and any URL's userinfo hidden."""
    for secret, label in _longest_first:
        if secret in text:
            text = text.replace(secret, label)
    return _URL_USERINFO.sub(_masked_userinfo, text)


def shorten(text: str, limit: int) -> str:
    """Scrubbed, then cut to ``limit`` characters (never cut a secret in half first)."""
    return scrub(text)[:limit]


def _masked_userinfo(match: re.Match[str]) -> str:
    info = match["info"]
    if info.startswith("..."):
        return match[0]
    return f"{match['scheme']}{mask(info.rpartition(':')[2] or info)}@"


def guard_logging() -> None:
    """Scrub every log record made in this process until :func:`release_logging`."""
    global _previous_factory
    with _lock:
        if _previous_factory is not None:
            return
        make = _previous_factory = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(scrubbed_record)


def release_logging() -> None:
    """Make log records as before :func:`guard_logging`."""
    global _previous_factory
    with _lock:
        if _previous_factory is None:
            return
        logging.setLogRecordFactory(_previous_factory)
        _previous_factory = None


def _scrub_record(record: logging.LogRecord) -> None:
    """Fix the record's message, traceback and stack as scrubbed text."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep both parts, scrubbed, unformatted
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = scrub(text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
