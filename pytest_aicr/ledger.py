"""Which planned items of a run were scored, lost with a crashed worker, or never run.

The process that judges the run learns the items to expect from collection (its
own, or an xdist worker's list of ids), each finished item from its record, and
each item that died with its worker from xdist. What is neither finished nor lost
was not run: the run was interrupted, stopped by ``-x``, or ran out of workers.
A run with lost or unrun items is incomplete: its metrics cover fewer items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aicr.collect import item_name

if TYPE_CHECKING:
    from pytest_aicr.dataset import Sample
    from pytest_aicr.variants import Variant

LOST = "lost"
NOT_RUN = "not_run"


@dataclass(frozen=True)
class PlannedItem:
    """What a node id stands for: a sample of a dataset file under a variant."""

    path: Path
    input_id: Any
    variant: str

    def as_record(self, nodeid: str) -> dict[str, Any]:
        """The entry naming this item in the results' ``lost`` or ``not_run``."""
        return {"input_id": self.input_id, "variant": self.variant, "nodeid": nodeid}


class ItemLedger:
    """Tracks the run's items by node id from collection to their reports.

    Registered as a plugin only where the run is judged.
    """

    def __init__(
        self,
        rootdir: Path,
        names: Iterable[tuple[str, PlannedItem]],
        *,
        runs_items: bool = True,
    ) -> None:
        self._rootdir = rootdir
        self._runs_items = runs_items
        self._by_name: dict[str, list[PlannedItem]] = {}
        for name, planned in names:
            self._by_name.setdefault(name, []).append(planned)
        self._expected: dict[str, PlannedItem] = {}
        self._finished: set[str] = set()
        self._lost: list[str] = []

    def expect(self, nodeids: Iterable[str]) -> None:
        """The collected items (the first list given counts; workers agree)."""
        if self._expected or not self._runs_items:
            return
        for nodeid in nodeids:
            planned = self._locate(nodeid)
            if planned is not None:
                self._expected[nodeid] = planned

    def finished(self, nodeid: str) -> None:
        """An item reported its record."""
        self._finished.add(nodeid)

    def lost(self, nodeid: str) -> None:
        """An item's worker died while running it."""
        if nodeid not in self._lost:
            self._lost.append(nodeid)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist, the session's own items are the ones to expect."""
        self.expect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(
        self, node: Any, ids: Sequence[str]
    ) -> None:
        """Under xdist, a worker's collection is the one to expect."""
        self.expect(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        """The item a dead xdist worker was running is lost."""
        self.lost(crashitem)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """An item that reached its call phase has its report."""
        if report.when == "call":
            self.finished(report.nodeid)

    def gaps(self) -> dict[str, list[dict[str, Any]]]:
        """Lost and unrun items, each named by input id, variant and node id."""
        lost = [n for n in self._lost if n not in self._finished]
        missing = [
            nodeid
            for nodeid in self._expected
            if nodeid not in self._finished and nodeid not in lost
        ]
        return {LOST: self._records(lost), NOT_RUN: self._records(missing)}

    def _records(self, nodeids: Sequence[str]) -> list[dict[str, Any]]:
        records = []
        for nodeid in nodeids:
            planned = self._expected.get(nodeid) or self._locate(nodeid)
            if planned is not None:
                records.append(planned.as_record(nodeid))
        return records

    def _locate(self, nodeid: str) -> PlannedItem | None:
        """The planned item of a node id; the file part settles a shared name."""
        prefix, _, name = nodeid.rpartition("::")
        candidates = self._by_name.get(name, [])
        for planned in candidates:
            if (self._rootdir / prefix).resolve() == planned.path:
                return planned
        return candidates[0] if candidates else None


def missing_by_variant(
    gaps: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, int]:
    """How many items each variant lacks, lost or not run."""
    counts: dict[str, int] = {}
    for entries in (gaps.get(LOST, []), gaps.get(NOT_RUN, [])):
        for entry in entries:
            counts[entry["variant"]] = counts.get(entry["variant"], 0) + 1
    return counts


def ledger_for(
    config: pytest.Config,
    plan: Mapping[Path, Sequence[tuple[Sample, str, int]]],
    variants: Sequence[Variant],
) -> ItemLedger:
    """A ledger that knows every item the plan can produce.

    Under ``--collect-only``, ``--setup-only`` or ``--setup-plan`` no item is
    expected to run, so none is missing.
    """
    option = config.option
    runs_items = not (option.collectonly or option.setuponly or option.setupplan)
    names = [
        (item_name(name, variant), PlannedItem(path, sample.input_id, variant.name))
        for path, planned in plan.items()
        for sample, name, _ in planned
        for variant in variants
    ]
    return ItemLedger(config.rootpath.resolve(), names, runs_items=runs_items)
