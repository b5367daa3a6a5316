"""Every dataset of a run: its files, their samples, and the checks across files.

Shared by the plugin and the ``aicr`` command so both read datasets the same way.
Samples are ordered by ``priority`` (smaller first), then by file and file order;
the sort is stable, so the order is the same in every process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aicr.dataset import Sample, dataset_files, load_samples
from pytest_aicr.errors import DatasetError
from pytest_aicr.readers import split_sheet

logger = logging.getLogger("pytest_aicr")


@dataclass(frozen=True)
class Catalog:
    """The files of a run (real paths, in order) and their samples."""

    files: list[Path]
    samples: list[tuple[Path, Sample]]


def load_catalog(
    paths: Iterable[Path],
    field_map: Mapping[str, str] | None = None,
    labels: Mapping[str, Any] | None = None,
) -> Catalog:
    """Load every dataset named by the ``--aicr-dataset`` values."""
    specs: list[Path] = []
    for path in paths:
        specs.extend(dataset_files(path))
    files: dict[Path, None] = {}
    loaded: list[tuple[Path, Sample]] = []
    owner: dict[str, str] = {}
    for spec in dict.fromkeys(_resolved(spec) for spec in specs):
        file = split_sheet(spec)[0]
        files[file] = None
        samples = load_samples(spec, field_map, labels)
        _log_repairs(spec, samples)
        for sample in samples:
            where = f"{sample.source}:{sample.line}"
            if sample.key in owner:
                raise DatasetError(
                    f"{where}: input_id {sample.input_id!r} is also at "
                    f"{owner[sample.key]}; an input_id must be unique across "
                    "datasets: rename one of them"
                )
            owner[sample.key] = where
            loaded.append((file, sample))
    loaded.sort(key=lambda entry: entry[1].priority)
    return Catalog(list(files), loaded)


def _log_repairs(spec: Path, samples: list[Sample]) -> None:
    """What loading changed in the data is said, never done silently."""
    flagged = sum(sample.flagged for sample in samples)
    duplicates = sum(sample.duplicates for sample in samples)
    if flagged:
        logger.warning(
            "%s: %d samples hold bytes that are not UTF-8; they were replaced "
            "(U+FFFD) and the samples are flagged in the results",
            spec,
            flagged,
        )
    if duplicates:
        logger.warning(
            "%s: %d rated comments repeat one already on their sample (same text, "
            "label and fields) and count once",
            spec,
            duplicates,
        )


def _resolved(spec: Path) -> Path:
    file, sheet = split_sheet(spec)
    resolved = file.resolve()
    return resolved if sheet is None else resolved.with_name(f"{resolved.name}#{sheet}")
