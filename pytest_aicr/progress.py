"""A progress line on long runs: items done, items in flight, rate and ETA.

Runs where the session is judged (the xdist controller, or the only process), so
workers never write to the terminal. A line is written only after the run has
taken a few seconds, then at most every few seconds, and only between results,
through the terminal reporter, so pytest's own output stays intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

FIRST_AFTER = 5.0
EVERY = 10.0


class Progress:
    """Counts items started and finished; writes a line now and then."""

    def __init__(
        self,
        reporter: Any,
        total: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reporter = reporter
        self.total = total
        self.clock = clock
        self.started_at = clock()
        self.last_line = float("-inf")
        self.started = 0
        self.finished = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist the controller collects the items itself."""
        self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(
        self, node: Any, ids: Sequence[str]
    ) -> None:
        """Under xdist every worker collects every item; their count is the total."""
        self.total = len(ids)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """An item began."""
        self.started += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """An item ended; maybe write a line."""
        if report.when != "teardown":
            return
        self.finished += 1
        now = self.clock()
        elapsed = now - self.started_at
        if elapsed < FIRST_AFTER or now - self.last_line < EVERY:
            return
        if self.total and self.finished >= self.total:
            return
        self.last_line = now
        if hasattr(report, "node"):
            # under xdist pytest writes status letters without tracking the line;
            # this is pytest's own mark for "a line is open", so ours starts anew
            self.reporter.currentfspath = -2
        self.reporter.write_line(self.line(elapsed))

    def line(self, elapsed: float) -> str:
        """``aicr: 120/3000 items done, 8 in flight, 2.1/s, ETA 22m51s``."""
        rate = self.finished / elapsed if elapsed > 0 else 0.0
        text = f"aicr: {self.finished}/{self.total or '?'} items done"
        text += f", {max(0, self.started - self.finished)} in flight, {rate:.1f}/s"
        if rate > 0 and self.total > self.finished:
            text += f", ETA {_duration((self.total - self.finished) / rate)}"
        return text


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
