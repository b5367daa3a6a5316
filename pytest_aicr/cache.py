"""The response cache: answers already paid for are never requested again.

One file per entry under the cache directory, named by a hash of endpoint, model,
messages and parameters (never the API key). An entry is written whole or not at
all (:mod:`pytest_aicr.atomic`), so a reader sees a whole entry or none, even
after ``kill -9`` mid-write; each entry carries a checksum of its content and its
own key, so one damaged on disk is named in the summary, ignored and asked again.
Any number of processes may read and write at once. A process killed mid-write
leaves an ``.aicr-*`` file beside the entries; it is never read, and goes when the
folder is deleted. A folder that cannot be written (a full disk, a path under a
file) is said once; the run goes on without keeping answers.

Modes: ``rw`` reads and writes; ``ro`` only replays (a miss is ``cache_miss``);
``off`` neither reads nor writes and sends every request; ``refresh`` asks again
once per run and overwrites. Identical requests in flight at once in one process
are sent once and the answer shared.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.accounting import CallStats
from pytest_aicr.atomic import write_atomically
from pytest_aicr.errors import CacheMiss

log = logging.getLogger("pytest_aicr")
CACHE_MODES = ("rw", "ro", "off", "refresh")
FORMAT = 1
_NAMED_DAMAGED = 10
Entry = dict[str, Any]


def request_key(
    endpoint: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
) -> str:
    """The cache key of a request: what is asked and where, never who asks."""
    identity = {
        "endpoint": endpoint.rstrip("/"),
        "model": model,
        "messages": [dict(message) for message in messages],
        "params": dict(params),
    }
    return hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class _Pending:
    """An identical request already on its way; waiters share its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.entry: Entry | None = None


class ResponseCache:
    """Reads and writes answers (plain JSON entries) under one directory."""

    def __init__(self, directory: Path, mode: str, stats: CallStats) -> None:
        self.directory = directory
        self.mode = mode
        self._stats = stats
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._refreshed: set[str] = set()
        self._reported: set[str] = set()

    def fetch(self, key: str, compute: Callable[[], Entry], what: str) -> Entry:
        """The cached answer for ``key``, or ``compute()`` (stored when it succeeds).

        ``what`` names the request (sample and stage) in a ``cache_miss`` error.
        """
        if self.mode == "off":
            return compute()
        found = self._readable(key)
        if found is not None:
            self._stats.count_cache("hits")
            return found
        if self.mode == "ro":
            raise CacheMiss(
                f"no cached answer for {what} in {self.directory} (--aicr-cache ro "
                "replays only); run once with --aicr-cache rw to fill the cache"
            )
        return self._shared(key, compute)

    def _shared(self, key: str, compute: Callable[[], Entry]) -> Entry:
        """Send the request once however many ask at once: the others count as hits."""
        with self._lock:
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = _Pending()
        if not owner:
            pending.done.wait()
            if pending.entry is not None:
                self._stats.count_cache("hits")
                return pending.entry
            return self._shared(key, compute)
        try:
            # the first asker's answer may have landed since our cache read
            entry = self._readable(key)
            if entry is not None:
                self._stats.count_cache("hits")
            else:
                self._stats.count_cache("misses")
                entry = compute()
                self.write(key, entry)
            pending.entry = entry
            return entry
        finally:
            with self._lock:
                del self._pending[key]
            pending.done.set()

    def _readable(self, key: str) -> Entry | None:
        """The cached entry, unless ``refresh`` has not asked for it yet this run."""
        if self.mode == "refresh" and key not in self._refreshed:
            return None
        return self.read(key)

    def read(self, key: str) -> Entry | None:
        """A whole, intact entry, or ``None`` (missing or damaged)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self._damaged(key, path, f"unreadable: {exc.strerror or exc}")
            return None
        entry, fault = _intact(data, key)
        if entry is None:
            self._damaged(key, path, fault)
        return entry

    def write(self, key: str, entry: Entry) -> None:
        """Store an entry so that no reader ever sees it half-written."""
        path = self._path(key)
        text = json.dumps(
            {"format": FORMAT, "key": key, "sha256": _digest(entry), "entry": entry},
            ensure_ascii=False,
        )
        try:
            self._prepare(path.parent)
        except OSError as exc:
            self._unwritten(exc.strerror or str(exc))
            return
        failure = write_atomically(path, text.encode("utf-8"))
        if failure is not None:
            self._unwritten(failure)
            return
        if self.mode == "refresh":
            self._refreshed.add(key)
        self._stats.count_cache("writes")

    def _prepare(self, folder: Path) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            log.info("response cache at %s", self.directory)
        ignore = self.directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by pytest-aicr\n*\n", encoding="utf-8")
        folder.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def _damaged(self, key: str, path: Path, fault: str) -> None:
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
            named = len(self._reported) <= _NAMED_DAMAGED
        self._stats.count_cache("damaged")
        message = f"cache entry {path} is damaged ({fault}); ignored and asked again"
        log.warning("%s", message)
        if named:
            self._stats.note(message)
        elif len(self._reported) == _NAMED_DAMAGED + 1:
            self._stats.note(
                "more cache entries were damaged: the pytest_aicr log names them"
            )

    def _unwritten(self, reason: str) -> None:
        """Say once per cause that answers are not being kept; the run goes on."""
        message = (
            f"response cache {self.directory}: answers not written ({reason}); "
            "the run goes on, and a rerun asks for them again"
        )
        if self._stats.note(message):
            log.warning("%s", message)


def _intact(data: bytes, key: str) -> tuple[Entry | None, str]:
    """The entry in ``data`` if whole and stored for ``key``; else why not."""
    if not data:
        return None, "empty file"
    try:
        stored = json.loads(data.decode("utf-8"))
    except ValueError:
        return None, "not JSON: cut short or overwritten"
    entry = stored.get("entry") if isinstance(stored, dict) else None
    if not isinstance(entry, dict):
        return None, "not a cache entry"
    if stored.get("key") != key:
        return None, "written for another request"
    if stored.get("sha256") != _digest(entry):
        return None, "checksum mismatch"
    return dict(entry), ""


def _digest(entry: Entry) -> str:
    return hashlib.sha256(_canonical(entry).encode("utf-8")).hexdigest()
