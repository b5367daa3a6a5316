"""Collection: one node per dataset file, one item per sample and variant.

Item names are ``<input_id>[<variant>]`` in a safe alphabet (letters, digits and
``._-``): pytest-html renders ids as markup, so nothing else may reach them. An id
that had to be changed, cut or that collides gets a short hash of the original.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aicr.dataset import Sample
from pytest_aicr.errors import StageError
from pytest_aicr.scrubbing import scrub
from pytest_aicr.variants import Variant, safe_id

if TYPE_CHECKING:
    from pytest_aicr.session import Evaluation

MAX_ID_LENGTH = 60
RECORD_KEY = "aicr"


def item_names(samples: Sequence[Sample]) -> list[str]:
    """Printable, bounded, unique names for the samples of one file."""
    bases = [_bounded(safe_id(sample.key)) for sample in samples]
    seen: dict[str, int] = {}
    for base in bases:
        seen[base] = seen.get(base, 0) + 1
    names = []
    for sample, base in zip(samples, bases, strict=True):
        if base != sample.key or seen[base] > 1:
            digest = hashlib.sha1(sample.key.encode("utf-8")).hexdigest()[:8]
            base = f"{base[: MAX_ID_LENGTH - 9]}-{digest}"
        names.append(base)
    return names


def item_name(sample_name: str, variant: Variant) -> str:
    """An item's name: its sample's name and its variant's id in brackets."""
    return f"{sample_name}[{safe_id(variant.name)}]"


def _bounded(text: str) -> str:
    return text[:MAX_ID_LENGTH] if len(text) > MAX_ID_LENGTH else text or "_"


class ItemFailed(Exception):
    """An item's chain ended in a categorised error."""

    def __init__(self, error: StageError) -> None:
        super().__init__(error.one_line())
        self.error = error


class DatasetNode(pytest.File):
    """A dataset file: yields an item per sample and variant."""

    evaluation: Evaluation

    def collect(self) -> Iterator[EvalItem]:
        """Items in dataset order, variants in the order given."""
        planned = self.evaluation.planned_samples(self.path)
        for sample, name, ordinal in planned:
            for index, variant in enumerate(self.evaluation.variants):
                yield EvalItem.from_parent(
                    self,
                    name=item_name(name, variant),
                    sample=sample,
                    variant=variant,
                    order=(ordinal, index),
                )


class EvalItem(pytest.Item):
    """One sample scored under one variant."""

    def __init__(
        self,
        *,
        sample: Sample,
        variant: Variant,
        order: tuple[int, int],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sample = sample
        self.variant = variant
        self.order = order

    @property
    def evaluation(self) -> Evaluation:
        """The run's evaluation object."""
        parent = self.parent
        assert isinstance(parent, DatasetNode)
        return parent.evaluation

    def runtest(self) -> None:
        """Run the chain, score it, and attach the record to the report."""
        record, error = self.evaluation.outcome_of(self)
        record["order"] = list(self.order)
        record["nodeid"] = self.nodeid
        self.user_properties.append((RECORD_KEY, record))
        if error is not None:
            raise ItemFailed(error)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        """A one-line reason for a chain error; pytest's usual report otherwise.

        Either is scrubbed: an unexpected exception may quote a key or a URL.
        """
        if isinstance(excinfo.value, ItemFailed):
            return scrub(str(excinfo.value))
        return scrub(str(super().repr_failure(excinfo, style=style)))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the sample was read, for pytest's headers."""
        return (
            self.path,
            self.sample.line - 1,
            f"{self.sample.key} [{self.variant.name}]",
        )


def record_of(report: pytest.TestReport) -> dict[str, Any] | None:
    """The evaluation record an item attached to its report, if any."""
    for name, value in report.user_properties:
        if name == RECORD_KEY and isinstance(value, dict):
            return value
    return None
