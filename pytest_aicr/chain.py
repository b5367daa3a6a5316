"""Strategies: chains of stages that turn a sample into predicted comments.

Every strategy subclasses :class:`Strategy` and lists its stages; a new one is a
subclass registered in :data:`STRATEGIES` or published under the entry-point group
``pytest_aicr.strategies``. Each stage renders its template, asks the model and
parses the answer; ``review`` marks comments ``valid`` and only those are predicted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar

from pytest_aicr.client import ModelGateway, StageRequest
from pytest_aicr.dataset import Sample
from pytest_aicr.parsing import Comment, parse_answer
from pytest_aicr.prompts import load_template
from pytest_aicr.variants import Variant


@dataclass
class ChainResult:
    """What a chain produced: each stage's comments and the final prediction."""

    stage_outputs: dict[str, list[Comment]] = field(default_factory=dict)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def predicted(self) -> list[Comment]:
        """The last stage's kept comments."""
        if not self.stage_outputs:
            return []
        return list(self.stage_outputs[next(reversed(self.stage_outputs))])


class Strategy:
    """A chain of stages. Subclasses set ``name`` and ``stages``."""

    name: ClassVar[str]
    stages: ClassVar[tuple[str, ...]]

    def run(
        self, sample: Sample, variant: Variant, gateway: ModelGateway
    ) -> ChainResult:
        """Run every stage in order; a stage error propagates with its stage."""
        result = ChainResult()
        comments: list[Comment] = []
        for stage in self.stages:
            comments = self.run_stage(stage, sample, variant, gateway, comments, result)
            result.stage_outputs[stage] = comments
        return result

    def run_stage(
        self,
        stage: str,
        sample: Sample,
        variant: Variant,
        gateway: ModelGateway,
        prior: list[Comment],
        result: ChainResult,
    ) -> list[Comment]:
        """Ask one stage's model and return the comments it keeps."""
        model = sample.models.get(stage) or variant.models[stage]
        template = load_template(variant.prompts[stage])
        prompt = template.render(
            {
                "code": sample.code,
                "language": sample.language or "an unknown language",
                "file": sample.file or "(not given)",
                "comments": json.dumps(
                    {"comments": [c.as_record() for c in prior]},
                    ensure_ascii=False,
                    indent=1,
                ),
            }
        )
        params = {**variant.stage_params(stage), **sample.params.get(stage, {})}
        request = StageRequest(
            stage=stage,
            model=model,
            messages=({"role": "user", "content": prompt},),
            params=params,
            sample=sample,
            prior=tuple(prior),
        )
        answer = gateway.complete(request)
        _add_usage(result.usage.setdefault(stage, {}), answer.usage)
        comments = parse_answer(
            answer.text,
            stage=stage,
            finish_reason=answer.finish_reason,
            refusal=answer.refusal,
        )
        if stage == "review":
            return [comment for comment in comments if comment.valid is not False]
        return comments


def _add_usage(total: dict[str, int], usage: Mapping[str, int]) -> None:
    for name, count in usage.items():
        total[name] = total.get(name, 0) + count


class CheckStrategy(Strategy):
    """One call: the check stage's comments are the prediction."""

    name = "check"
    stages = ("check",)


class CheckReviewStrategy(Strategy):
    """Check, then a review that keeps only comments it marks valid."""

    name = "check-review"
    stages = ("check", "review")


class CheckReflectReviewStrategy(Strategy):
    """Check, reflect to refine the comments, review to keep the valid ones."""

    name = "check-reflect-review"
    stages = ("check", "reflect", "review")


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (CheckStrategy, CheckReviewStrategy, CheckReflectReviewStrategy)
}


def available_strategies() -> dict[str, type[Strategy]]:
    """Built-in strategies plus those published as entry points."""
    found = dict(STRATEGIES)
    for point in entry_points(group="pytest_aicr.strategies"):
        strategy = point.load()
        if isinstance(strategy, type) and issubclass(strategy, Strategy):
            found[strategy.name] = strategy
    return found
