"""Chains run on a thread pool ahead of pytest; each item waits for its own result.

The work is waiting on the network, so one process keeps many chains in flight
on threads. When the run starts, every item this process will run is submitted,
in sample priority order (smaller first); ``EvalItem.runtest`` then only collects
its result. Under xdist a worker submits exactly its shard
(:mod:`pytest_aicr.scheduler`). Stopping cancels what has not started.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from pytest_aicr.collect import EvalItem

SHARDED = "aicr_sharded"


class ChainPool:
    """Chains on daemon threads, keyed by item node id.

    The threads are daemons so that a process told to stop (Ctrl-C) is not held
    until a request in flight times out; every answer that landed is cached.
    """

    def __init__(self, run: Callable[[EvalItem], Any], workers: int) -> None:
        self._run = run
        self._workers = max(1, workers)
        self._tasks: queue.SimpleQueue[tuple[EvalItem, Future[Any]] | None]
        self._tasks = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def start(self, items: Sequence[EvalItem]) -> None:
        """Queue the items' chains in the order given."""
        with self._lock:
            for item in items:
                if not self._stopped and item.nodeid not in self._futures:
                    future: Future[Any] = Future()
                    self._futures[item.nodeid] = future
                    self._tasks.put((item, future))
            wanted = min(self._workers, len(self._futures)) - len(self._threads)
            for _ in range(max(0, wanted)):
                thread = threading.Thread(
                    target=self._work,
                    name=f"aicr-chain-{len(self._threads)}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def result(self, item: EvalItem) -> Any:
        """The item's result; an item not started ahead runs here and now."""
        with self._lock:
            future = self._futures.pop(item.nodeid, None)
        if future is None:
            return self._run(item)
        return future.result()

    def stop(self, *, wait: bool = True) -> None:
        """Cancel chains not yet started; wait for those running if asked."""
        with self._lock:
            self._stopped = True
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
            threads = list(self._threads)
        for _ in threads:
            self._tasks.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            item, future = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._run(item))
            except BaseException as exc:
                future.set_exception(exc)


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
