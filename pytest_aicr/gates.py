"""Gates: rules a run's metrics must meet, decided once for the whole run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_aicr.errors import ConfigError
from pytest_aicr.metrics import METRIC_NAMES


@dataclass(frozen=True)
class MinimumRule:
    """``METRIC=VALUE``: every variant's metric must be at least the value."""

    metric: str
    minimum: float

    @property
    def text(self) -> str:
        """The rule as written on the command line."""
        return f"{self.metric}>={self.minimum:g}"


@dataclass(frozen=True)
class GateVerdict:
    """One rule applied to one variant."""

    rule: str
    variant: str
    passed: bool
    message: str

    def as_record(self) -> dict[str, object]:
        """The verdict as stored in results."""
        return {
            "rule": self.rule,
            "variant": self.variant,
            "passed": self.passed,
            "message": self.message,
        }


def parse_minimum(text: str) -> MinimumRule:
    """Parse ``METRIC=VALUE`` or raise a :class:`ConfigError` saying what is wrong."""
    metric, minimum = parse_metric_number(text, "gate", "METRIC=VALUE", "f1=0.4")
    return MinimumRule(metric, minimum)


def parse_metric_number(
    text: str, kind: str, form: str, example: str
) -> tuple[str, float]:
    """Split ``METRIC=NUMBER`` with NUMBER in [0, 1]; a bad rule is a ConfigError."""
    metric, sep, value = text.partition("=")
    metric = metric.strip()
    if not sep or metric not in METRIC_NAMES:
        raise ConfigError(
            f"{kind} {text!r}: expected {form} with METRIC one of "
            f"{', '.join(METRIC_NAMES)}, e.g. {example}"
        )
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{kind} {text!r}: {value!r} is not a number") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{kind} {text!r}: the value must lie between 0 and 1")
    return metric, number


def apply_minimums(
    rules: Sequence[MinimumRule], metrics: Mapping[str, Mapping[str, float | None]]
) -> list[GateVerdict]:
    """Check every rule against every variant's metrics."""
    verdicts = []
    for rule in rules:
        for variant, values in metrics.items():
            value = values.get(rule.metric)
            if value is None:
                message = (
                    f"{rule.metric} is n/a for {variant} (its denominator is zero), "
                    f"so {rule.text} cannot be met"
                )
                verdicts.append(GateVerdict(rule.text, variant, False, message))
                continue
            passed = value >= rule.minimum
            sign = ">=" if passed else "<"
            message = (
                f"{rule.metric} = {value:.3f} {sign} {rule.minimum:g} for {variant}"
            )
            verdicts.append(GateVerdict(rule.text, variant, passed, message))
    return verdicts


def errors_line(errors: int, max_errors: int) -> str:
    """How the run's item errors are judged, worded alike in the plugin and CLI."""
    verb = "tolerated" if errors <= max_errors else "fail the run"
    return f"{errors} item error(s) {verb} (--aicr-max-errors {max_errors})"
