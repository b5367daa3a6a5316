"""SIGTERM during an evaluation stops it as Ctrl-C does.

CI systems cancel a job with SIGTERM, whose default ends the process at once:
no results, no summary. While an evaluation runs, a process whose SIGTERM is
still the default turns it into ``KeyboardInterrupt`` in the main thread, so the
finished items are written and the run is marked incomplete (exit status 2).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("pytest_aicr")


class TermAsInterrupt:
    """Installs the SIGTERM handler for the run and puts the default back after."""

    def __init__(self, before: Callable[[], object] = lambda: None) -> None:
        self._installed = False
        self._before = before

    def install(self) -> None:
        """Take over SIGTERM if it is the default and this is the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, self._interrupt)
        self._installed = True

    def restore(self) -> None:
        """Put the default SIGTERM handling back."""
        if self._installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self._installed = False

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        """Run ``before`` (the embedder's shut), then stop as Ctrl-C does."""
        log.warning("SIGTERM received: stopping as after Ctrl-C")
        self._before()
        raise KeyboardInterrupt
