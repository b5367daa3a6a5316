import pytest

from pytest_aicr.errors import BadOutput, Truncated
from pytest_aicr.parsing import Comment, parse_answer


def texts(answer: str, stage: str = "check") -> list[str]:
    return [c.comment for c in parse_answer(answer, stage=stage)]


def test_plain_object() -> None:
    assert texts('{"comments": [{"comment": "a"}, {"comment": "b"}]}') == ["a", "b"]


def test_code_fence_and_prose_around() -> None:
    answer = 'Here is my review:\n```json\n{"comments": [{"comment": "x"}]}\n```\nBye'
    assert texts(answer) == ["x"]


def test_prose_before_bare_object() -> None:
    assert texts('Sure! {"comments": [{"comment": "y"}]} hope it helps') == ["y"]


def test_bare_list_of_objects_and_strings() -> None:
    assert texts('[{"comment": "a"}, "b"]') == ["a", "b"]


def test_think_block_is_skipped() -> None:
    answer = '<think>{"comments": [{"comment": "no"}]}</think>{"comments": []}'
    assert texts(answer) == []


def test_fields_are_read() -> None:
    [comment] = parse_answer(
        '{"comments": [{"comment": " c ", "file": "a.py", "line": "12", '
        '"severity": "major", "category": "bug"}]}',
        stage="check",
    )
    assert comment == Comment(
        "c", file="a.py", line=12, severity="major", category="bug"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("No", False), ("YES", True)],
)
def test_valid_forms(value: object, expected: bool) -> None:
    import json

    answer = json.dumps({"comments": [{"comment": "c", "valid": value}]})
    assert parse_answer(answer, stage="review")[0].valid is expected


def test_missing_valid_is_kept_as_unknown() -> None:
    assert (
        parse_answer('{"comments": [{"comment": "c"}]}', stage="review")[0].valid
        is None
    )


def test_other_valid_value_is_bad_output() -> None:
    with pytest.raises(BadOutput, match="valid"):
        parse_answer(
            '{"comments": [{"comment": "c", "valid": "maybe"}]}', stage="review"
        )


def test_truncated_is_its_own_error() -> None:
    with pytest.raises(Truncated) as info:
        parse_answer('{"comments": [', stage="check", finish_reason="length")
    assert info.value.category == "truncated"
    assert info.value.stage == "check"


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("", "empty"),
        ("I cannot help with that.", "no JSON in the answer: 'I cannot help"),
        ('{"answer": 42}', 'expected {"comments"'),
        ('{"comments": [42]}', "comment 0 is a number"),
        ('{"comments": [{"text": "no comment key"}]}', "comment 0 has no `comment`"),
    ],
)
def test_unreadable_answers_quote_the_start(answer: str, fragment: str) -> None:
    with pytest.raises(BadOutput) as info:
        parse_answer(answer, stage="check")
    assert fragment in info.value.message
    assert info.value.category == "bad_output"


def test_long_junk_is_quoted_briefly() -> None:
    with pytest.raises(BadOutput) as info:
        parse_answer("word " * 1000, stage="check")
    assert len(info.value.message) < 200
