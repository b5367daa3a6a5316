"""``aicr validate PATH...``: read datasets as a run would, and count them.

Nothing is sent to a model. A readable dataset prints its samples by class and its
rated comments by label; an unreadable one exits 4 with the run's own message.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pytest_aicr.catalog import load_catalog
from pytest_aicr.configfile import add_config_argument, dataset_maps
from pytest_aicr.dataset import Sample

_CLASSES = ("positive", "negative", "optimizable")
_LABELS = ("helpful", "not helpful", "no change")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aicr validate``."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Load every dataset and print its counts; 0 when all are readable."""
    field_map, labels = dataset_maps(args.config)
    catalog = load_catalog(args.paths, field_map, labels)
    by_file: dict[Path, list[Sample]] = {file: [] for file in catalog.files}
    for file, sample in catalog.samples:
        by_file[file].append(sample)
    for file, samples in by_file.items():
        sys.stdout.write(f"{file}: {describe(samples)}\n")
    if len(by_file) > 1:
        sys.stdout.write(f"total: {describe(s for _, s in catalog.samples)}\n")
    return 0


def describe(samples: Iterable[Sample]) -> str:
    """Counts by class and label, and anything a reader should check."""
    samples = list(samples)
    classes: Counter[str] = Counter(sample.sample_class for sample in samples)
    labels = Counter(c.label for sample in samples for c in sample.comments)
    text = (
        f"{len(samples)} samples ("
        + ", ".join(f"{name} {classes[name]}" for name in _CLASSES)
        + f"); {labels.total()} rated comments ("
        + ", ".join(f"{name} {labels[i]}" for i, name in enumerate(_LABELS))
        + ")"
    )
    flagged = sum(sample.flagged for sample in samples)
    duplicates = sum(sample.duplicates for sample in samples)
    if flagged:
        text += f"; {flagged} samples held bytes that are not UTF-8 (replaced)"
    if duplicates:
        text += f"; {duplicates} repeated rated comments counted once"
    return text
