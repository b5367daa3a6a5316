"""Money spent per variant and stage, from token counts and prices in the config.

Prices are given per model in US dollars per million tokens, e.g.
``prices: {gpt-4o-mini: {prompt: 0.15, completion: 0.6}}``. Costs use each stage's
model in the variant; a per-sample model override is priced as the variant's model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_aicr.errors import ConfigError

Prices = Mapping[str, Mapping[str, float]]
_TOKEN_KINDS = {"prompt": "prompt_tokens", "completion": "completion_tokens"}


def parse_prices(raw: Any) -> dict[str, dict[str, float]]:
    """Check the config's ``prices`` mapping; a mistake names the model and field."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "config prices: expected a mapping of model to "
            "{prompt: $/1M tokens, completion: $/1M tokens}"
        )
    prices: dict[str, dict[str, float]] = {}
    for model, entry in raw.items():
        where = f"config prices.{model}"
        if not isinstance(entry, Mapping) or not entry:
            raise ConfigError(f"{where}: expected {{prompt: X, completion: Y}}")
        prices[str(model)] = {}
        for kind, value in entry.items():
            if kind not in _TOKEN_KINDS:
                raise ConfigError(
                    f"{where}: unknown key {kind!r}; use prompt, completion"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
            ):
                raise ConfigError(f"{where}.{kind}: {value!r} is not a price >= 0")
            prices[str(model)][kind] = float(value)
    return prices


def variant_cost(
    tokens_by_stage: Mapping[str, Mapping[str, int]],
    models: Mapping[str, str],
    prices: Prices,
    true_positives: int,
) -> dict[str, Any]:
    """Cost per stage and in total, and per true positive; ``None`` where unpriced."""
    stages: dict[str, float | None] = {}
    unpriced: list[str] = []
    for stage, usage in tokens_by_stage.items():
        model = models.get(stage, "")
        stages[stage] = _stage_cost(usage, prices.get(model))
        if stages[stage] is None:
            unpriced.append(model)
    known = [value for value in stages.values() if value is not None]
    total = None if unpriced else round(sum(known), 6)
    per_tp = None
    if total is not None and true_positives:
        per_tp = round(total / true_positives, 6)
    return {
        "total": total,
        "per_tp": per_tp,
        "stages": stages,
        "unpriced": sorted(set(unpriced)),
    }


def _stage_cost(
    usage: Mapping[str, int], price: Mapping[str, float] | None
) -> float | None:
    spent = {kind: usage.get(field, 0) for kind, field in _TOKEN_KINDS.items()}
    if not any(spent.values()):
        return 0.0
    if price is None:
        return None
    dollars = sum(spent[kind] * price.get(kind, 0.0) for kind in spent) / 1_000_000
    return round(dollars, 6)
