"""xdist scheduling by fixed shards, so each worker knows its items from the start.

Item ``i`` of the collection belongs to worker ``gw<i mod N>``. A worker computes
its own shard from the same rule (:func:`shard_of`) and starts all of it on its
thread pool at once, while the controller feeds it the items of that shard a few
at a time, so ``-x`` still stops a worker after the items already queued. Items of
a worker that died go to the others, which run them without a head start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xdist.scheduler import LoadScheduling

_QUEUED = 2


def shard_of(count: int, rank: int, workers: int) -> range:
    """Indices of the items that worker ``rank`` of ``workers`` runs."""
    if workers < 1 or not 0 <= rank < workers:
        return range(0)
    return range(rank, count, workers)


def worker_rank(worker_id: str) -> int:
    """``gw3`` is rank 3; a name xdist did not give is rank -1."""
    digits = worker_id.removeprefix("gw")
    return int(digits) if digits.isdigit() else -1


class ShardScheduling(LoadScheduling):  # type: ignore[misc]
    """Load scheduling whose split is fixed before any item runs."""

    collection: list[str] | None

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self.shards: dict[Any, list[int]] = {}

    @property
    def tests_finished(self) -> bool:
        """Finished when no shard holds an unsent item and no queue holds two."""
        if any(self.shards.values()):
            return False
        return bool(super().tests_finished)

    @property
    def has_pending(self) -> bool:
        """Items are left to send or to finish."""
        return any(self.shards.values()) or bool(super().has_pending)

    def schedule(self) -> None:
        """Split the collection into shards, then queue items on every worker."""
        assert self.collection_is_completed
        if self.collection is None:
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            collection: list[str] = next(iter(self.node2collection.values()))
            self.collection = collection
            total = len(collection)
            for node in self.nodes:
                rank = worker_rank(str(node.gateway.id))
                self.shards[node] = list(shard_of(total, rank, self.numnodes))
            placed = {index for shard in self.shards.values() for index in shard}
            self.pending[:] = [i for i in range(total) if i not in placed]
        for node in self.nodes:
            self.check_schedule(node)

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        """Keep a short queue on the worker: its shard first, then leftovers."""
        if node.shutting_down:
            return
        queued = self.node2pending[node]
        source = self.shards.get(node) or self.pending
        wanted = _QUEUED - len(queued)
        if wanted > 0 and source:
            self._send(node, source, wanted)
        if not self.shards.get(node) and not self.pending:
            node.shutdown()

    def remove_node(self, node: Any) -> str | None:
        """A lost worker's unsent items go to the others."""
        self.pending.extend(self.shards.pop(node, []))
        crashed: str | None = super().remove_node(node)
        return crashed

    def _send(self, node: Any, source: list[int], count: int) -> None:
        chunk: Sequence[int] = source[:count]
        del source[:count]
        self.node2pending[node].extend(chunk)
        node.send_runtest_some(list(chunk))
