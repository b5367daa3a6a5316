import pytest

from pytest_aicr.errors import ConfigError
from pytest_aicr.gates import MinimumRule, apply_minimums, parse_minimum


def test_parse() -> None:
    assert parse_minimum("f1=0.4") == MinimumRule("f1", 0.4)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("f2=0.4", "METRIC one of"),
        ("f1", "METRIC=VALUE"),
        ("f1=high", "not a number"),
        ("f1=4", "between 0 and 1"),
    ],
)
def test_bad_rules(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_minimum(text)


def test_verdicts_per_variant() -> None:
    verdicts = apply_minimums(
        [MinimumRule("pre", 0.5)], {"a": {"pre": 0.6}, "b": {"pre": 0.4}}
    )
    assert [(v.variant, v.passed) for v in verdicts] == [("a", True), ("b", False)]
    assert verdicts[1].message == "pre = 0.400 < 0.5 for b"


def test_undefined_metric_fails_and_says_why() -> None:
    [verdict] = apply_minimums([MinimumRule("rec", 0.1)], {"a": {"rec": None}})
    assert not verdict.passed
    assert "n/a" in verdict.message
