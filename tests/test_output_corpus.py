"""Hostile and broken model answers: each gives the right comments or error category.

The corpus is a table, one line per case: the reply the fake server sends and what
the chain must make of it (the comments it keeps, or an error category with a
fragment of its message). Every case goes over real HTTP to 127.0.0.1 through the
gateway and a ``check-review`` chain; cases marked ``e2e`` also run together in one
whole plugin run, checked in its results file. To add a case, add a line.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.breaker import BreakerSettings
from pytest_aicr.chain import CheckReviewStrategy
from pytest_aicr.client import EndpointSettings, ModelGateway
from pytest_aicr.dataset import Sample
from pytest_aicr.errors import StageError
from pytest_aicr.keys import ApiKey
from pytest_aicr.parsing import parse_answer
from pytest_aicr.prompts import resolve_prompt
from pytest_aicr.retry import RetrySettings
from pytest_aicr.variants import Variant
from tests.conftest import LONG_KEY, read_results
from tests.fakeserver import FakeServer, Reply, Seen, comments_reply
from tests.test_retry import FakeClock, RecordingKeys

A = "`items` may be empty here; guard the loop."
B = "The file is opened but never closed."
HUGE = tuple(f"Comment number {i} says the bound is off by one." for i in range(20000))
LONG = "This condition is inverted. " * 8000
HTML = "<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"


@dataclass(frozen=True)
class Fails:
    """An error of this category whose message holds this fragment."""

    category: str
    fragment: str = ""


@dataclass(frozen=True)
class Case:
    """A reply for one stage and what the chain must make of it."""

    reply: Reply
    expect: tuple[str, ...] | Fails
    stage: str = "check"
    e2e: bool = False


def said(payload: Any, **reply: Any) -> Reply:
    """A completion whose content is this payload as JSON text."""
    return Reply(content=json.dumps(payload), **reply)


def comments(*entries: Any) -> dict[str, Any]:
    return {"comments": [{"comment": e} if isinstance(e, str) else e for e in entries]}


def body(payload: Any) -> str:
    """A raw response body: the payload as JSON."""
    return json.dumps(payload)


def completion(message: dict[str, Any], finish_reason: str = "stop") -> str:
    return body({"choices": [{"message": message, "finish_reason": finish_reason}]})


def tool_call(arguments: Any) -> Reply:
    call = {"id": "t1", "type": "function", "function": {"name": "report"}}
    call["function"]["arguments"] = arguments
    return Reply(
        content=None, message={"tool_calls": [call]}, finish_reason="tool_calls"
    )


ONE = json.dumps(comments(A))
BROKEN = "broken at line"
CASES: dict[str, Case] = {
    "fence_json": Case(Reply(content=f"```json\n{ONE}\n```"), (A,), e2e=True),
    "fence_bare": Case(Reply(content=f"```\n{ONE}\n```"), (A,)),
    "prose_around": Case(Reply(content=f"Here you go:\n{ONE}\nHope it helps!"), (A,)),
    "prose_with_list_first": Case(
        Reply(content=f"I read lines [3, 4] closely. {ONE}"), (A,), e2e=True
    ),
    "bare_list": Case(said([{"comment": A}, B]), (A, B), e2e=True),
    "json_in_a_json_string": Case(Reply(content=json.dumps(ONE)), (A,), e2e=True),
    "comments_as_a_json_string": Case(
        said({"comments": json.dumps([{"comment": A}])}), (A,)
    ),
    "think_block_first": Case(Reply(content=f"<think>[1]</think>{ONE}"), (A,)),
    "null_content": Case(Reply(content=None), Fails("bad_output", "empty"), e2e=True),
    "null_comment": Case(said({"comments": [None]}), Fails("bad_output", "is null")),
    "null_fields": Case(
        said(comments({"comment": A, "file": None, "line": None, "valid": None})), (A,)
    ),
    "null_comment_text": Case(
        said(comments({"comment": None})), Fails("bad_output", "no `comment` text")
    ),
    "null_comments_list": Case(
        said({"comments": None}), Fails("bad_output", "expected")
    ),
    "number_as_comment": Case(said([42]), Fails("bad_output", "is a number")),
    "boolean_as_comment": Case(said({"comments": [True]}), Fails("bad_output", "bool")),
    "object_as_comment_text": Case(
        said(comments({"comment": {"text": A}})), Fails("bad_output", "no `comment`")
    ),
    "huge_valid_list": Case(said(comments(*HUGE)), HUGE),
    "huge_junk": Case(
        Reply(content="lorem {ipsum} [dolor] sit amet, " * 33000),
        Fails("bad_output", "no JSON in the answer"),
    ),
    "huge_bracket_junk": Case(
        Reply(content=("[" * 900 + "x") * 1100), Fails("bad_output")
    ),
    "recursion_bomb": Case(
        Reply(content="[" * 100000 + "]" * 100000),
        Fails("bad_output", "nested too deeply"),
        e2e=True,
    ),
    "recursion_bomb_body": Case(
        Reply(body="[" * 100000), Fails("bad_output", "nested too deeply")
    ),
    "invalid_utf8_body": Case(
        Reply(body=completion({"content": ONE}).encode().replace(b"ard", b"a\xffrd")),
        (A.replace("ard", "a\ufffdrd"),),
        e2e=True,
    ),
    "truncated": Case(
        Reply(content='{"comments": [{"comment": "The lo', finish_reason="length"),
        Fails("truncated", "max_tokens"),
        e2e=True,
    ),
    "tool_call_with_comments": Case(tool_call(ONE), (A,), e2e=True),
    "tool_call_arguments_as_object": Case(tool_call(comments(A, B)), (A, B)),
    "function_call_with_comments": Case(
        Reply(content=None, message={"function_call": {"name": "f", "arguments": ONE}}),
        (A,),
    ),
    "tool_call_without_comments": Case(
        tool_call('{"city": "Paris"}'), Fails("bad_output", "expected")
    ),
    "empty_string": Case(Reply(content=""), Fails("bad_output", "empty")),
    "whitespace_only": Case(Reply(content=" \n\t "), Fails("bad_output", "empty")),
    "empty_choices": Case(
        Reply(body=body({"choices": []})), Fails("bad_output", "no choices"), e2e=True
    ),
    "missing_choices": Case(
        Reply(body=body({"id": "x"})), Fails("bad_output", "no choices")
    ),
    "choice_without_message": Case(
        Reply(body=body({"choices": [{"text": ONE}]})), Fails("bad_output", "message")
    ),
    "html_page_with_200": Case(
        Reply(body=HTML, headers={"Content-Type": "text/html"}),
        Fails("bad_output", "not JSON: '<!DOCTYPE html>"),
        e2e=True,
    ),
    "error_object_with_200": Case(
        Reply(body=body({"error": {"message": "model overloaded"}})),
        Fails("bad_output", "with an error"),
    ),
    "json_body_not_a_completion": Case(
        Reply(body='"hello"'), Fails("bad_output", "no completion")
    ),
    "trailing_commas": Case(
        Reply(content='{"comments": [{"comment": "x"},]}'),
        Fails("bad_output", BROKEN),
        e2e=True,
    ),
    "single_quotes": Case(
        Reply(content="{'comments': [{'comment': 'x'}]}"), Fails("bad_output", BROKEN)
    ),
    "comments_in_json": Case(
        Reply(content='{"comments": [ // the loop\n{"comment": "x"}]}'),
        Fails("bad_output", BROKEN),
    ),
    "duplicate_comments": Case(said(comments(A, A)), (A, A), e2e=True),
    "bom_before_content": Case(Reply(content="\ufeff" + ONE), (A,)),
    "bom_before_body": Case(
        Reply(body=b"\xef\xbb\xbf" + completion({"content": ONE}).encode()), (A,)
    ),
    "escapes_rtl_zero_width": Case(
        Reply(
            content='{"comments": ["caf\\u00e9 \\u202eevil\\u202c zero\\u200bwidth"]}'
        ),
        ("café \u202eevil\u202c zero\u200bwidth",),
    ),
    "zero_width_only": Case(
        said(comments("\u200b\u2060\ufeff ")),
        Fails("bad_output", "no `comment`"),
        e2e=True,
    ),
    "lone_surrogate": Case(
        Reply(content='{"comments": ["bad \\ud800 byte"]}'),
        ("bad \ufffd byte",),
        e2e=True,
    ),
    "extremely_long_comment": Case(said(comments(LONG)), (LONG.strip(),)),
    "content_parts": Case(
        Reply(body=completion({"content": [{"type": "text", "text": ONE}]})), (A,)
    ),
    "content_as_an_object": Case(
        Reply(body=completion({"content": comments(A)})), (A,), e2e=True
    ),
    "content_filter_stop": Case(
        Reply(content=None, finish_reason="content_filter"),
        Fails("output_refused", "content filter"),
        e2e=True,
    ),
    "content_filter_partial": Case(
        Reply(content='{"comments": [{"comm', finish_reason="content_filter"),
        Fails("output_refused", "content filter"),
    ),
    "refusal_field": Case(
        Reply(content=None, message={"refusal": "I can't help with that."}),
        Fails("output_refused", "I can't help"),
        e2e=True,
    ),
    "echoed_key": Case(
        Reply(content=f"Your request had Authorization: Bearer {LONG_KEY}"),
        Fails("bad_output", "Bearer ...wxyz"),
        e2e=True,
    ),
    "echoed_key_in_junk_body": Case(
        Reply(body=f"<html>Bearer {LONG_KEY}</html>"),
        Fails("bad_output", "Bearer ...wxyz"),
    ),
    "echoed_key_in_refusal": Case(
        Reply(content=None, message={"refusal": f"Not with key {LONG_KEY}."}),
        Fails("output_refused", "key ...wxyz"),
    ),
    "review_valid_as_strings": Case(
        said(
            comments({"comment": A, "valid": "true"}, {"comment": B, "valid": "false"})
        ),
        (A,),
        stage="review",
        e2e=True,
    ),
    "review_valid_yes_no": Case(
        said(comments({"comment": A, "valid": "yes"}, {"comment": B, "valid": "No"})),
        (A,),
        stage="review",
    ),
    "review_valid_missing_is_kept": Case(said(comments(A, B)), (A, B), stage="review"),
    "review_valid_maybe": Case(
        said(comments({"comment": A, "valid": "maybe"})),
        Fails("bad_output", "`valid` 'maybe'"),
        stage="review",
        e2e=True,
    ),
    "review_valid_number": Case(
        said(comments({"comment": A, "valid": 1})),
        Fails("bad_output", "`valid` 1"),
        stage="review",
    ),
}


def scripted(case: Case) -> Callable[[Seen], Reply]:
    """The case's reply for its stage; the other stage answers plainly."""

    def answer(seen: Seen) -> Reply:
        reviewing = "final reviewer" in seen.prompt
        if reviewing == (case.stage == "review"):
            return case.reply
        if reviewing:
            return comments_reply(*_prior(seen), valid=None)
        return comments_reply(A, B)

    return answer


def _prior(seen: Seen) -> list[str]:
    start = seen.prompt.index('{\n "comments"')
    payload, _ = json.JSONDecoder().raw_decode(seen.prompt, start)
    return [c["comment"] for c in payload["comments"]]


@pytest.fixture
def run_chain(
    fake_server: Callable[..., FakeServer], tmp_path: Path
) -> Iterator[Callable[[Case], tuple[Any, FakeServer]]]:
    """Run one case through a check-review chain over HTTP: (comments or error)."""
    made: list[ModelGateway] = []
    variant = Variant(
        "check-review@m",
        "check-review",
        {"check": "m", "review": "m"},
        {stage: resolve_prompt(stage, None, tmp_path) for stage in ("check", "review")},
    )
    sample = Sample("S1", "+x = 1", (), tmp_path / "s.jsonl", 1)

    def run(case: Case) -> tuple[Any, FakeServer]:
        server = fake_server(scripted(case))
        clock = FakeClock()
        made.append(
            ModelGateway(
                EndpointSettings(
                    base_url=server.url,
                    keys=RecordingKeys([ApiKey(LONG_KEY, 0)]),
                    timeout=30.0,
                    retry=RetrySettings(attempts=4),
                    breaker=BreakerSettings(),
                    sleep=clock.sleep,
                    clock=clock,
                )
            )
        )
        try:
            result = CheckReviewStrategy().run(sample, variant, made[-1])
        except StageError as error:
            return error, server
        return tuple(c.comment for c in result.predicted), server

    yield run
    for gateway in made:
        gateway.close()


def test_corpus_has_every_kind() -> None:
    assert len(CASES) >= 30
    assert sum(case.e2e for case in CASES.values()) >= 15


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_answer_gives_its_comments_or_category(
    run_chain, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    case = CASES[name]
    caplog.set_level(logging.DEBUG, logger="pytest_aicr")
    got, server = run_chain(case)
    assert LONG_KEY not in caplog.text
    if isinstance(case.expect, Fails):
        assert isinstance(got, StageError), got
        assert (got.category, got.stage) == (case.expect.category, case.stage)
        assert case.expect.fragment in got.message
        assert len(got.message) <= 300
        assert LONG_KEY not in got.message
        assert "Traceback" not in got.message
    else:
        assert got == case.expect
    retried = isinstance(got, StageError) and got.status == 200
    asked = Counter("final reviewer" in seen.prompt for seen in server.seen)
    assert asked[case.stage == "review"] == (2 if retried else 1)


def test_whole_runs_record_each_comment_or_category(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    chosen = {name: case for name, case in CASES.items() if case.e2e}
    by_marker = {f"# case:{name}": case for name, case in chosen.items()}

    def answer(seen: Seen) -> Reply:
        marker = next(m for m in by_marker if m + "\n" in seen.prompt)
        return scripted(by_marker[marker])(seen)

    server = fake_server(answer)
    endpoint_env(server)
    dataset = write_jsonl(
        "hostile.jsonl",
        [
            {"input_id": name, "code": f"+x = 1  # case:{name}\n", "outputs": []}
            for name in chosen
        ],
    )
    results = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check-review",
        "--aicr-retry-base=0.01",
        f"--aicr-max-errors={len(chosen)}",
        f"--aicr-results={results}",
        "-p",
        "no:xdist",
    )
    output = outcome.stdout.str() + outcome.stderr.str()
    assert outcome.ret == 0, output
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    cached = [
        p.read_text("utf-8")
        for p in (pytester.path / ".aicr_cache").rglob("*")
        if p.is_file() and p.suffix != ".sqlite3"
    ]
    text = results.read_text(encoding="utf-8")
    assert LONG_KEY not in output + text + "".join(cached)
    recorded = {s["input_id"]: s for s in read_results(results)["samples"]}
    for name, case in chosen.items():
        sample = recorded[name]
        if isinstance(case.expect, Fails):
            assert sample["status"] == "error", name
            error = sample["error"]
            assert (error["category"], error["stage"]) == (
                case.expect.category,
                case.stage,
            ), name
            assert case.expect.fragment in error["message"], name
        else:
            assert sample["status"] == "ok", name
            assert tuple(p["comment"] for p in sample["predicted"]) == case.expect


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_junk_endpoint_ends_items_quickly_as_bad_output(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, content_type
) -> None:
    junk = Reply(body=HTML, headers={"Content-Type": content_type})
    server = fake_server(lambda seen: junk)
    endpoint_env(server)
    samples = [
        {"input_id": f"J{i}", "code": f"+x = {i}", "outputs": []} for i in range(8)
    ]
    dataset = write_jsonl("cases.jsonl", samples)
    results = pytester.path / "results.json"

    started = time.monotonic()
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        f"--aicr-results={results}",
        "-p",
        "no:xdist",
        "-rf",
    )
    elapsed = time.monotonic() - started

    assert outcome.ret == 1
    outcome.assert_outcomes(failed=8)
    outcome.stdout.fnmatch_lines(
        ["bad_output in check, status 200: *not JSON: '<!DOCTYPE html>*"]
    )
    assert "Traceback" not in outcome.stdout.str()
    assert len(server.seen) == 2 * len(samples)
    data = read_results(results)
    assert data["variants"]["check@m"]["errors_by_category"] == {"bad_output": 8}
    assert data["run"]["calls"]["breaker"] == []
    assert data["keys"]["...wxyz"]["failures"] == {"bad_output": 16}
    assert elapsed < 15, elapsed


@pytest.mark.parametrize(
    "junk",
    [
        "[" * 300000,
        ("[" * 900 + "x") * 1100,
        '{"comments": [' * 70000,
        '["x", ' * 200000,
        "{a} [b] " * 130000,
        "{} " * 330000,
    ],
    ids=[
        "open_lists",
        "deep_starts",
        "open_objects",
        "unclosed_list",
        "brackets",
        "empty_objects",
    ],
)
def test_a_megabyte_of_junk_is_judged_in_a_second(junk: str) -> None:
    started = time.monotonic()
    with pytest.raises(StageError) as caught:
        parse_answer(junk, stage="check")
    assert caught.value.category == "bad_output"
    assert time.monotonic() - started < 1.0
