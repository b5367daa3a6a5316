"""Variants: a strategy with a model, prompt and parameters for each stage."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_aicr.dataset import RESERVED_PARAMS
from pytest_aicr.errors import ConfigError
from pytest_aicr.prompts import load_template, resolve_prompt

STAGES = ("check", "reflect", "review")
DEFAULT_MODEL = "builtin:rules"
DEFAULT_MAX_TOKENS = 2048
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Variant:
    """What one column of the comparison runs."""

    name: str
    strategy: str
    models: Mapping[str, str]
    prompts: Mapping[str, Path]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def prompt_hashes(self) -> dict[str, str]:
        """The hash of each stage's template."""
        return {
            stage: load_template(path).digest for stage, path in self.prompts.items()
        }

    def stage_params(self, stage: str) -> dict[str, Any]:
        """Parameters for one stage, with the default ``max_tokens``."""
        return {"max_tokens": DEFAULT_MAX_TOKENS, **self.params.get(stage, {})}


def variant_name(strategy: str, models: Mapping[str, str]) -> str:
    """``<strategy>@<model>``, or per-stage models spelled out when they differ."""
    distinct = {models[stage] for stage in models}
    if len(distinct) == 1:
        return f"{strategy}@{next(iter(distinct))}"
    spelled = ",".join(
        f"{stage}={models[stage]}" for stage in STAGES if stage in models
    )
    return f"{strategy}@{spelled}"


def build_variants(
    strategies: Sequence[str],
    check_models: Sequence[str],
    *,
    stage_stages: Mapping[str, Sequence[str]],
    reflect_model: str | None,
    review_model: str | None,
    rootdir: Path,
) -> list[Variant]:
    """One variant per strategy and check model, in the order given."""
    variants: list[Variant] = []
    for strategy in strategies:
        if strategy not in stage_stages:
            raise ConfigError(
                f"unknown strategy {strategy!r}; choose from "
                f"{', '.join(sorted(stage_stages))}"
            )
        for model in check_models:
            per_stage = {"check": model, "reflect": reflect_model or model}
            per_stage["review"] = review_model or model
            stages = stage_stages[strategy]
            models = {stage: per_stage[stage] for stage in stages}
            prompts = {stage: resolve_prompt(stage, None, rootdir) for stage in stages}
            name = variant_name(strategy, models)
            variants.append(Variant(name, strategy, models, prompts))
    names = [variant.name for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"variant {duplicates[0]!r} is given twice")
    return variants


def safe_id(text: str) -> str:
    """Map text to the item-id alphabet: letters, digits and ``._-``."""
    return _SAFE.sub("_", text)


def variants_from_config(
    entries: Sequence[Mapping[str, Any]],
    stage_stages: Mapping[str, Sequence[str]],
    rootdir: Path,
) -> list[Variant]:
    """Variants named in the YAML config's ``variants:`` list."""
    variants = []
    for number, entry in enumerate(entries, start=1):
        where = f"config variants[{number}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping with strategy and models")
        strategy = str(entry.get("strategy", "check"))
        if strategy not in stage_stages:
            raise ConfigError(
                f"{where}: unknown strategy {strategy!r}; choose from "
                f"{', '.join(sorted(stage_stages))}"
            )
        stages = stage_stages[strategy]
        models = _per_stage(entry.get("models", entry.get("model")), stages, where)
        prompt_names = entry.get("prompts") or {}
        if not isinstance(prompt_names, Mapping):
            raise ConfigError(f"{where}: `prompts` must map stage to file")
        prompts = {
            stage: resolve_prompt(stage, prompt_names.get(stage), rootdir)
            for stage in stages
        }
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}: `params` must map stage to parameters")
        for stage, stage_params in params.items():
            named = stage_params if isinstance(stage_params, Mapping) else {}
            reserved = sorted(RESERVED_PARAMS & set(named))
            if reserved:
                raise ConfigError(
                    f"{where}: params.{stage} sets {', '.join(reserved)}, which the "
                    "run sets itself; remove it from the config"
                )
        name = str(entry.get("name") or variant_name(strategy, models))
        variants.append(Variant(name, strategy, models, prompts, dict(params)))
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ConfigError("config variants: two variants share a name")
    return variants


def _per_stage(value: Any, stages: Sequence[str], where: str) -> dict[str, str]:
    if value is None:
        return dict.fromkeys(stages, DEFAULT_MODEL)
    if isinstance(value, str):
        return dict.fromkeys(stages, value)
    if isinstance(value, Mapping):
        default = value.get("check", DEFAULT_MODEL)
        return {stage: str(value.get(stage, default)) for stage in stages}
    raise ConfigError(f"{where}: `models` must be a model name or map stage to model")
