"""In-process round-robin keys: a rest that is over costs the key its turn no more."""

from __future__ import annotations

from pytest_aicr.keys import ApiKey, RoundRobinKeys


def test_a_key_whose_rest_is_over_takes_its_turns_again() -> None:
    keys = [ApiKey(f"key-{n}", n) for n in range(3)]
    source = RoundRobinKeys(keys)
    first = source.acquire()
    source.cool_down(first, 0.0)
    turns = [source.acquire().index for _ in range(6)]
    assert sorted(turns) == [0, 0, 1, 1, 2, 2]
