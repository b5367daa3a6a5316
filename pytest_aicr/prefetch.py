"""Chains run on a thread pool ahead of pytest; each item waits for its own result.

The work is waiting on the network, so one process keeps many chains in flight
on threads. When the run starts, every item this process will run is submitted,
in sample priority order (smaller first); ``EvalItem.runtest`` then only collects
its result. Under xdist a worker submits exactly its shard
(:mod:`pytest_aicr.scheduler`). Stopping cancels what has not started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from pytest_aicr.collect import EvalItem

SHARDED = "aicr_sharded"


class ChainPool:
    """A thread pool of chains keyed by item node id."""

    def __init__(self, run: Callable[[EvalItem], Any], workers: int) -> None:
        self._run = run
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="aicr-chain")
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def start(self, items: Sequence[EvalItem]) -> None:
        """Submit the items' chains in the order given."""
        with self._lock:
            for item in items:
                if not self._stopped and item.nodeid not in self._futures:
                    self._futures[item.nodeid] = self._executor.submit(self._run, item)

    def result(self, item: EvalItem) -> Any:
        """The item's result; an item not started ahead runs here and now."""
        with self._lock:
            future = self._futures.pop(item.nodeid, None)
        if future is None:
            return self._run(item)
        return future.result()

    def stop(self) -> None:
        """Cancel chains not yet started and wait for those running."""
        with self._lock:
            self._stopped = True
            self._futures.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)


def items_to_prefetch(session: pytest.Session) -> list[EvalItem]:
    """This process's evaluation items, smaller sample priority first.

    Nothing under ``--collect-only``; in an xdist worker, only its shard, and only
    when the controller's shard scheduler hands out the items (it marks the
    worker's input with ``SHARDED``).
    """
    config = session.config
    if config.option.collectonly or config.option.setuponly:
        return []
    indices: Sequence[int] = range(len(session.items))
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if not workerinput.get(SHARDED):
            return []
        from pytest_aicr.scheduler import shard_of, worker_rank

        rank = worker_rank(str(workerinput["workerid"]))
        indices = shard_of(len(session.items), rank, int(workerinput["workercount"]))
    items = [session.items[i] for i in indices]
    chosen = [item for item in items if isinstance(item, EvalItem)]
    return sorted(chosen, key=lambda item: (item.sample.priority, item.order))
