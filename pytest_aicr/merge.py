"""Merging the results files of shards into the results of one run.

Shards must come from the same run setup: the same variants with the same prompt
hashes, datasets, matching settings and seed, each with a distinct shard of one
split, and no sample twice. Metrics and intervals are recomputed from the merged
samples, never averaged from the shards'. A shard that is incomplete (items lost
or not run) makes the merged results incomplete, listing its items.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.accounting import latency_percentiles
from pytest_aicr.atomic import write_output
from pytest_aicr.errors import UsageProblem
from pytest_aicr.ledger import LOST, NOT_RUN, missing_by_variant
from pytest_aicr.results import (
    SCHEMA_VERSION,
    read_results_file,
    results_bytes,
    variant_figures,
)

# run.config entries that must agree between shards
_SAME_CONFIG = ("similarity", "ro_scope", "pos_neg_ratio", "limit", "seed")


class MergeRefused(UsageProblem):
    """The files given cannot be merged into one run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``aicr merge RESULTS... -o OUT``."""
    parser.add_argument("results", nargs="+", type=Path, help="shard results files")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="merged results file"
    )


def run(args: argparse.Namespace) -> int:
    """Merge the shards and write the merged results; exit status 0 or 4."""
    documents = [(str(path), read_results_file(path)) for path in args.results]
    merged = merge_results(documents)
    write_output(args.output, results_bytes(merged))
    samples = len(merged["samples"])
    sys.stdout.write(
        f"merged {len(documents)} files, {samples} samples, into {args.output}\n"
    )
    for name, document in documents:
        if document.get("complete") is False:
            sys.stdout.write(
                f"{name} is incomplete ({len(document.get('lost') or [])} lost, "
                f"{len(document.get('not_run') or [])} not run): the merged "
                "results are marked incomplete\n"
            )
    return 0


def merge_results(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge ``(name, results)`` pairs, in the order given, into one results dict."""
    if not documents:
        raise MergeRefused("no results files to merge")
    for name, document in documents:
        if document.get("schema") != SCHEMA_VERSION:
            raise MergeRefused(f"{name}: not a pytest-aicr results file (schema 1)")
    first_name, first = documents[0]
    for name, document in documents[1:]:
        _check_compatible(first_name, first, name, document)
    _check_shards(documents)
    samples = _merged_samples(documents)
    seed = int(first["run"]["config"].get("seed") or 0)
    order = list(first["run"]["variants"])
    variants = {
        variant: variant_figures([s for s in samples if s["variant"] == variant], seed)
        for variant in order
    }
    run = dict(first["run"])
    run["config"] = {**first["run"]["config"], "shard": None}
    run["merged_from"] = [
        {"file": name, "shard": document["run"]["config"].get("shard")}
        for name, document in documents
    ]
    gaps = {
        key: [entry for _, doc in documents for entry in doc.get(key) or []]
        for key in (LOST, NOT_RUN)
    }
    missing = missing_by_variant(gaps)
    for variant, figures in variants.items():
        figures["missing"] = missing.get(variant, 0)
    return {
        "schema": SCHEMA_VERSION,
        "complete": all(doc.get("complete", True) for _, doc in documents),
        **gaps,
        "variants": variants,
        "samples": samples,
        "gates": [],
        "keys": _merged_keys(documents),
        "run": run,
    }


def _check_compatible(
    first_name: str, first: Mapping[str, Any], name: str, other: Mapping[str, Any]
) -> None:
    def refuse(what: str) -> MergeRefused:
        return MergeRefused(
            f"{name} and {first_name} differ in {what}; merge only shards of one run"
        )

    if first["run"].get("variants") != other["run"].get("variants"):
        raise refuse("variants (strategies or models)")
    if first["run"].get("prompt_hashes") != other["run"].get("prompt_hashes"):
        raise refuse("prompt hashes (the prompts changed between shards)")
    if _dataset_names(first) != _dataset_names(other):
        raise refuse("datasets")
    for key in _SAME_CONFIG:
        if first["run"]["config"].get(key) != other["run"]["config"].get(key):
            raise refuse(f"`{key}`")


def _dataset_names(document: Mapping[str, Any]) -> list[str]:
    return [Path(p).name for p in document["run"]["config"].get("datasets", [])]


def _check_shards(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    shards = [(name, doc["run"]["config"].get("shard")) for name, doc in documents]
    given = [tuple(shard) for _, shard in shards if shard]
    if not given:
        return
    counts = {count for _, count in given}
    if len(given) != len(shards) or len(counts) != 1:
        raise MergeRefused(
            "the files are not shards of one split: "
            + ", ".join(f"{name} shard {shard}" for name, shard in shards)
        )
    indices = [index for index, _ in given]
    if len(set(indices)) != len(indices):
        raise MergeRefused(f"a shard is given twice: {sorted(indices)}")
    (count,) = counts
    missing = sorted(set(range(1, count + 1)) - set(indices))
    if missing:
        listed = ", ".join(f"{index}/{count}" for index in missing)
        raise MergeRefused(f"shard {listed} missing; merge every shard of the split")


def _merged_samples(
    documents: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], str] = {}
    merged: list[dict[str, Any]] = []
    for name, document in documents:
        for sample in document.get("samples", []):
            key = (str(sample["input_id"]), str(sample["variant"]))
            if key in seen:
                raise MergeRefused(
                    f"sample {key[0]!r} of variant {key[1]!r} is in both {seen[key]} "
                    f"and {name}; shards must not overlap"
                )
            seen[key] = name
            merged.append(dict(sample))
    order = {variant: i for i, variant in enumerate(documents[0][1]["run"]["variants"])}
    merged.sort(key=lambda s: (order.get(s["variant"], len(order)), *_source_key(s)))
    return merged


def _source_key(sample: Mapping[str, Any]) -> tuple[str, int]:
    path, _, line = str(sample.get("source") or "").rpartition(":")
    return (path, int(line)) if line.isdigit() else (str(sample.get("source")), 0)


def _merged_keys(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per-key counters added up; latency percentiles recomputed from all calls."""
    keys = _sum_trees([document.get("keys") or {} for _, document in documents])
    for entry in keys.values():
        if isinstance(entry, dict) and isinstance(entry.get("latencies_s"), list):
            entry["latencies_s"] = sorted(entry["latencies_s"])
            entry["latency_s"] = latency_percentiles(entry["latencies_s"])
    return keys


def _sum_trees(trees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add numbers leaf by leaf; lists are joined; other leaves keep the first."""
    total: dict[str, Any] = {}
    for tree in trees:
        for key, value in tree.items():
            if key not in total:
                total[key] = value
            elif isinstance(value, Mapping) and isinstance(total[key], Mapping):
                total[key] = _sum_trees([total[key], value])
            elif isinstance(value, bool):
                continue
            elif isinstance(value, int | float) and isinstance(total[key], int | float):
                total[key] = total[key] + value
            elif isinstance(value, list) and isinstance(total[key], list):
                total[key] = [*total[key], *value]
    return total
