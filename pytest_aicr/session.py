"""The evaluation of one pytest run: plan, run items, gather and judge.

:class:`Evaluation` is registered as a plugin when ``--aicr-dataset`` is given.
Every process (xdist controller and workers alike) plans the same items from the
same files; workers run items and attach a plain-JSON record to each report; only
the process that owns the session gathers records, applies gates, writes outputs
and sets the exit status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from pytest_aicr.accounting import key_figures, merge_stats
from pytest_aicr.baseline import (
    compare_runs,
    compare_variant,
    parse_max_drop,
)
from pytest_aicr.catalog import load_catalog
from pytest_aicr.chain import Strategy, available_strategies
from pytest_aicr.client import ModelGateway
from pytest_aicr.collect import DatasetNode, EvalItem, item_names, record_of
from pytest_aicr.dataset import Sample
from pytest_aicr.endpoint_setup import (
    chain_concurrency,
    endpoint_settings,
    guard_secrets,
    open_key_store,
)
from pytest_aicr.errors import ConfigError, StageError
from pytest_aicr.evidence import similarity_evidence, stage_records
from pytest_aicr.gates import apply_minimums, parse_minimum
from pytest_aicr.keypool import KeyPool, Reservation
from pytest_aicr.keys import KeySource, RoundRobinKeys, keys_from_env
from pytest_aicr.ledger import ledger_for
from pytest_aicr.matching import Embedder, similarity_matrix
from pytest_aicr.options import Settings
from pytest_aicr.outcome import Counts, score_item
from pytest_aicr.prefetch import SHARDED, ChainPool, items_to_prefetch
from pytest_aicr.results import (
    RunSummary,
    build_summary,
    read_results_file,
    write_run_files,
)
from pytest_aicr.sampling import select_samples
from pytest_aicr.scrubbing import forget, release_logging
from pytest_aicr.termination import TermAsInterrupt
from pytest_aicr.variants import Variant, build_variants, variants_from_config

CALLS_KEY = "aicr_calls"


class Evaluation:
    """Plans the items of a run, evaluates them and judges the run."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        guard_secrets(settings)
        self.started = time.time()
        self.strategies = available_strategies()
        self.variants = self._variants()
        self.rules = [parse_minimum(text) for text in settings.minimums]
        self.drop_rules = [parse_max_drop(text) for text in settings.max_drops]
        self.baseline = self._baseline()
        self._plan = self._plan_samples()
        self.ledger = ledger_for(config, self._plan, self.variants)
        self._gateway: ModelGateway | None = None
        self._gateway_lock = threading.Lock()
        self._key_store = self._open_key_store()
        self._key_pool: KeyPool | None = None
        self._chains: ChainPool | None = None
        self._embedder = Embedder()
        self.records: list[dict[str, Any]] = []
        self.other_failures = 0
        self.worker_calls: list[dict[str, Any]] = []
        self.calls_lost: list[str] = []
        self.summary: RunSummary | None = None
        self._sigterm = TermAsInterrupt(before=self._embedder.shut)

    # planning

    def _variants(self) -> list[Variant]:
        stage_lists = {name: cls.stages for name, cls in self.strategies.items()}
        if self.settings.variants:
            return variants_from_config(
                self.settings.variants, stage_lists, self.settings.rootdir
            )
        return build_variants(
            self.settings.strategies,
            self.settings.models,
            stage_stages=stage_lists,
            reflect_model=self.settings.reflect_model,
            review_model=self.settings.review_model,
            rootdir=self.settings.rootdir,
        )

    def _baseline(self) -> dict[str, Any] | None:
        if self.settings.baseline is not None:
            return (
                None
                if self.is_worker
                else read_results_file(self.settings.baseline, "baseline")
            )
        if self.drop_rules and len(self.variants) < 2:
            raise ConfigError(
                "--aicr-max-drop needs --aicr-baseline PATH (a results file), or a "
                "second variant to compare with the first"
            )
        return None

    def _plan_samples(self) -> dict[Path, list[tuple[Sample, str, int]]]:
        catalog = load_catalog(
            self.settings.datasets, self.settings.fields, self.settings.labels
        )
        files, loaded = catalog.files, catalog.samples
        chosen = select_samples(
            [sample for _, sample in loaded],
            pos_neg_ratio=self.settings.pos_neg_ratio,
            limit=self.settings.limit,
            seed=self.settings.seed,
            shard=self.settings.shard,
        )
        kept = {id(sample) for sample in chosen}
        plan: dict[Path, list[tuple[Sample, str, int]]] = {path: [] for path in files}
        by_file: dict[Path, list[Sample]] = {path: [] for path in files}
        for path, sample in loaded:
            if id(sample) in kept:
                by_file[path].append(sample)
        ordinal = 0
        for path, samples in by_file.items():
            for sample, name in zip(samples, item_names(samples), strict=True):
                plan[path].append((sample, name, ordinal))
                ordinal += 1
        return plan

    def planned_samples(self, path: Path) -> list[tuple[Sample, str, int]]:
        """The chosen samples of one file with their item names and ordinals."""
        return self._plan.get(path.resolve(), [])

    @property
    def dataset_paths(self) -> list[Path]:
        """Every dataset file of the run."""
        return list(self._plan)

    @property
    def is_worker(self) -> bool:
        """True in an xdist worker, which runs items but judges nothing."""
        return hasattr(self.config, "workerinput")

    # running

    def evaluate(
        self, sample: Sample, variant: Variant
    ) -> tuple[dict[str, Any], StageError | None]:
        """Run one item's chain and score it; a chain error becomes a record."""
        record: dict[str, Any] = {
            "input_id": sample.input_id,
            "variant": variant.name,
            "class": sample.sample_class,
            "source": f"{sample.source}:{sample.line}",
            "metadata": dict(sample.extra),
            "flagged": sample.flagged,
        }
        strategy: Strategy = self.strategies[variant.strategy]()
        try:
            result = strategy.run(sample, variant, self.gateway)
        except StageError as error:
            record.update(
                counts=Counts().as_dict(),
                status="error",
                error=error.as_record(),
                predicted=[],
                matches=[],
                stages={},
                usage={},
            )
            return record, error
        settings = self.settings
        predicted = [comment.comment for comment in result.predicted]
        counts, matches = score_item(
            sample, predicted, self._similarity, settings.similarity, settings.ro_scope
        )
        stages = {}
        if len(result.stage_outputs) > 1:
            stages = stage_records(
                sample.sample_class,
                {
                    s: [c.comment for c in out]
                    for s, out in result.stage_outputs.items()
                },
                lambda texts: score_item(
                    sample,
                    texts,
                    self._similarity,
                    settings.similarity,
                    settings.ro_scope,
                ),
            )
        record.update(
            counts=counts.as_dict(),
            status="ok",
            error=None,
            predicted=[comment.as_record() for comment in result.predicted],
            matches=[vars(match) for match in matches],
            stages=stages,
            usage=result.usage,
            similarities=similarity_evidence(sample, predicted, self._similarity),
        )
        return record, None

    @property
    def gateway(self) -> ModelGateway:
        """The process's model gateway, made on first use."""
        with self._gateway_lock:
            if self._gateway is None:
                self._gateway = ModelGateway(
                    endpoint_settings(self.settings, self._key_source())
                )
            return self._gateway

    def _key_source(self) -> KeySource:
        keys = keys_from_env(self.settings.keys_env)
        if self._key_store is None:
            return RoundRobinKeys(keys)
        self._key_pool = KeyPool(keys, self._key_store)
        return self._key_pool

    def _open_key_store(self) -> Reservation | None:
        models = {m for variant in self.variants for m in variant.models.values()}
        for planned in self._plan.values():
            models.update(m for sample, _, _ in planned for m in sample.models.values())
        return open_key_store(self.settings, models)

    def outcome_of(self, item: EvalItem) -> tuple[dict[str, Any], StageError | None]:
        """The item's record and error, from the chain pool when it runs one."""
        if self._chains is None:
            return self.evaluate(item.sample, item.variant)
        result: tuple[dict[str, Any], StageError | None] = self._chains.result(item)
        return result

    def _similarity(
        self, left: Sequence[str], right: Sequence[str]
    ) -> NDArray[np.float64]:
        vectors = self._embedder.embed([*left, *right])
        return similarity_matrix(vectors[: len(left)], vectors[len(left) :])

    # hooks

    def pytest_sessionstart(self) -> None:
        """From here on, SIGTERM stops the run as Ctrl-C does."""
        self._sigterm.install()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Start this process's chains before pytest reaches their items (DESIGN 7)."""
        items = items_to_prefetch(session)
        if items:
            self._chains = ChainPool(
                lambda item: self.evaluate(item.sample, item.variant),
                chain_concurrency(self.settings),
            )
            self._chains.start(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Fixed shards under ``--dist load`` (the default of ``-n``)."""
        if config.getoption("dist", None) != "load":
            return None
        from pytest_aicr.scheduler import ShardScheduling

        return ShardScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell each worker that it runs a fixed shard, so it may start it early."""
        if self.config.getoption("dist", None) == "load":
            node.workerinput[SHARDED] = True

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> DatasetNode | None:
        """Dataset files become dataset nodes."""
        if file_path.resolve() not in self._plan:
            return None
        node = DatasetNode.from_parent(parent, path=file_path)
        node.evaluation = self
        return node

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Inside a dataset folder, only dataset files are collected."""
        resolved = collection_path.resolve()
        for folder in self.settings.datasets:
            folder = folder.resolve()
            if folder.is_dir() and resolved.is_relative_to(folder):
                if resolved.is_file() and resolved not in self._plan:
                    return True
        return None

    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        """Passed items show their outcome, e.g. ``TP`` or ``FP+FN``."""
        if report.when != "call" or not report.passed:
            return None
        record = record_of(report)
        if record is None:
            return None
        label = Counts(**record["counts"]).label()
        return "passed", ".", (label, {"green": True})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather records where the session is judged."""
        if self.is_worker:
            return
        record = record_of(report) if report.when == "call" else None
        if record is not None:
            self.records.append(record)
        elif report.failed:
            self.other_failures += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Keep the call statistics a finished xdist worker sent.

        A worker that died sends none: its calls are missing from the key and
        cache figures, which then say so.
        """
        calls = (getattr(node, "workeroutput", None) or {}).get(CALLS_KEY)
        if isinstance(calls, dict):
            self.worker_calls.append(calls)
        elif error is not None:
            self.calls_lost.append(str(node.workerinput["workerid"]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Judge the run: metrics, gates, outputs, exit status."""
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        self._stop_chains(wait=not interrupted)
        own: list[dict[str, Any]] = []
        if self._gateway is not None:
            self._gateway.close()
            own.append(self._gateway.stats.as_json())
        if self._key_store is not None and self._key_store.notes:
            own.append({"notes": list(self._key_store.notes)})
        if self.is_worker:
            if own:
                self.config.workeroutput[CALLS_KEY] = merge_stats(own)  # type: ignore[attr-defined]
            return
        self.summary = build_summary(
            self.records,
            self.variants,
            verdicts=lambda metrics: apply_minimums(self.rules, metrics),
            settings=self.settings,
            wall_time=time.time() - self.started,
        )
        self.summary.record_gaps(self.ledger.gaps(), interrupted=interrupted)
        calls = merge_stats([*self.worker_calls, *own])
        self.summary.keys = key_figures(calls)
        self.summary.run["calls"] = {
            "cache": calls["cache"],
            "breaker": calls["breaker"],
            "notes": calls["notes"],
        }
        if self.calls_lost:
            self.summary.run["calls"]["partial"] = sorted(self.calls_lost)
        self._compare(self.summary)
        self.summary.problems.extend(write_run_files(self.summary, self.settings))
        self._set_exit_status(session, self.summary)

    def _stop_chains(self, *, wait: bool) -> None:
        """Wake callers waiting for a key, cancel chains not started, close store.

        After Ctrl-C, chains still running are not waited for: their threads end
        with the process, and an answer that landed is already in the cache. Only
        an embedding in progress is waited for (bounded), as exiting inside torch
        aborts the process.
        """
        if self._key_pool is not None:
            self._key_pool.stop()
        if self._chains is not None:
            self._chains.stop(wait=wait)
            if not wait:
                self._embedder.shut()
        if self._key_store is not None:
            self._key_store.close()

    def _compare(self, summary: RunSummary) -> None:
        """Regression gates: against the baseline file, else later variants vs first."""
        candidate = summary.as_json()
        if self.baseline is not None:
            where = str(self.settings.baseline)
            comparisons = compare_runs(self.drop_rules, self.baseline, candidate, where)
        elif self.drop_rules:
            first = (self.variants[0].name, candidate)
            comparisons = [
                compare_variant(self.drop_rules, first, (variant.name, candidate))
                for variant in self.variants[1:]
            ]
        else:
            return
        summary.comparisons = comparisons
        verdicts = [verdict for c in comparisons for verdict in c.verdicts]
        summary.gates.extend(verdicts)
        summary.failed_gates.extend(v for v in verdicts if not v.passed)

    def _set_exit_status(self, session: pytest.Session, summary: RunSummary) -> None:
        status = session.exitstatus
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        errors_fail = summary.error_count > self.settings.max_errors
        if (
            summary.failed_gates
            or errors_fail
            or self.other_failures
            or summary.problems
            or not summary.complete
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            session.exitstatus = pytest.ExitCode.OK

    def pytest_unconfigure(self) -> None:
        """The run is over: SIGTERM, log records as before; secrets forgotten."""
        self._sigterm.restore()
        release_logging()
        forget()

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """Print the run's metrics and verdicts."""
        if self.summary is None:
            return
        from pytest_aicr.summary import write_summary

        write_summary(terminalreporter, self.summary, self.settings)


__all__ = ["EvalItem", "Evaluation"]
