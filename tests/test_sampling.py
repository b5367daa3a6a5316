from pathlib import Path

import pytest

from pytest_aicr.dataset import RatedComment, Sample
from pytest_aicr.sampling import runner_shard, select_samples


def make(key: str, label: int | None) -> Sample:
    comments = () if label is None else (RatedComment("c", label),)
    return Sample(key, "+x", comments, Path("d.jsonl"), 1)


def keys(samples: list[Sample]) -> list[str]:
    return [s.key for s in samples]


POOL = [make(f"p{i}", 0) for i in range(30)] + [make(f"n{i}", 1) for i in range(10)]
POOL += [make(f"o{i}", 2) for i in range(3)]


def test_ratio_cuts_positives_when_in_excess() -> None:
    chosen = select_samples(POOL, pos_neg_ratio=1.0, seed=1)
    classes = [s.sample_class for s in chosen]
    assert classes.count("positive") == 10
    assert classes.count("negative") == 10
    assert classes.count("optimizable") == 3


def test_ratio_cuts_negatives_when_in_excess() -> None:
    chosen = select_samples(POOL, pos_neg_ratio=6.0, seed=1)
    classes = [s.sample_class for s in chosen]
    assert (classes.count("positive"), classes.count("negative")) == (30, 5)


def test_ratio_is_repeatable_and_keeps_order() -> None:
    first = keys(select_samples(POOL, pos_neg_ratio=0.5, seed=4))
    assert first == keys(select_samples(list(POOL), pos_neg_ratio=0.5, seed=4))
    assert first != keys(select_samples(POOL, pos_neg_ratio=0.5, seed=5))
    assert first == [k for k in keys(POOL) if k in set(first)]


def test_limit_keeps_the_first() -> None:
    assert keys(select_samples(POOL, limit=3)) == ["p0", "p1", "p2"]


def test_shards_are_disjoint_and_cover() -> None:
    shards = [keys(select_samples(POOL, shard=(i, 3))) for i in (1, 2, 3)]
    assert sorted(k for shard in shards for k in shard) == sorted(keys(POOL))
    assert all(shards)


def test_adding_a_sample_moves_no_other_sample() -> None:
    before = {k: runner_shard(k, 4) for k in keys(POOL)}
    grown = [*POOL, make("new", 0)]
    after = {s.key: runner_shard(s.key, 4) for s in grown}
    assert all(after[k] == v for k, v in before.items())


@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b", "3"])
def test_bad_shard_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.path.joinpath("d.jsonl").write_text(
        '{"input_id": "x", "code": "+x", "outputs": []}\n'
    )
    result = pytester.runpytest("--aicr-dataset=d.jsonl", f"--aicr-shard={value}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--aicr-shard*must be I/N*"])
