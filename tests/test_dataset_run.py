"""Per-record models and params reach the endpoint from text-only formats."""

from __future__ import annotations

import pytest

from tests.fakeserver import Reply, Seen, comments_reply


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_per_record_models_and_params_reach_the_endpoint(
    pytester: pytest.Pytester, fake_server, endpoint_env, fmt: str
) -> None:
    server = fake_server(lambda seen: comments_reply())
    endpoint_env(server)
    if fmt == "yaml":
        dataset = pytester.makefile(
            ".yaml",
            cases="- input_id: special\n"
            "  code: '+x = 1  # special'\n"
            "  models: {check: m-special}\n"
            "  params: {check: {temperature: 0.25, max_tokens: 77}}\n"
            "  outputs: []\n"
            "- {input_id: plain, code: '+y = 2  # plain', outputs: []}\n",
        )
    else:
        dataset = pytester.makefile(
            ".csv",
            cases="input_id,code,models,params,outputs\n"
            'special,+x = 1  # special,"{""check"": ""m-special""}",'
            '"{""check"": {""temperature"": 0.25, ""max_tokens"": 77}}",[]\n'
            "plain,+y = 2  # plain,,,[]\n",
        )
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist"
    )
    assert outcome.ret == 0, outcome.stdout.str()

    def seen_for(marker: str) -> Seen:
        return next(seen for seen in server.seen if marker in seen.prompt)

    special, plain = seen_for("# special"), seen_for("# plain")
    assert (special.model, plain.model) == ("m-special", "m")
    assert special.body["temperature"] == 0.25
    assert special.body["max_tokens"] == 77
    assert "temperature" not in plain.body


@pytest.mark.parametrize("where", ["dataset", "config"])
def test_params_that_set_what_the_run_sets_stop_the_run_at_start(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, where: str
) -> None:
    server = fake_server(lambda seen: Reply())
    endpoint_env(server)
    record = {"input_id": "a", "code": "+x", "output": "c", "is_like": 0}
    reserved = {"check": {"model": "other", "stream": True}}
    if where == "dataset":
        record["params"] = reserved
    else:
        pytester.path.joinpath("aicr.yaml").write_text(
            "variants:\n  - strategy: check\n    model: m\n"
            "    params: {check: {model: other, stream: true}}\n"
        )
    dataset = write_jsonl("cases.jsonl", [record])
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "--aicr-model=m")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert not server.seen
    expected = (
        f"*{dataset}:1: field `params`*remove model, stream from `params`*"
        if where == "dataset"
        else "*config variants[[]1]: params.check sets model, stream, which the run*"
    )
    outcome.stderr.fnmatch_lines([expected])
    assert "Traceback" not in outcome.stderr.str() + outcome.stdout.str()


def test_params_the_sdk_does_not_know_are_sent_in_the_body(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server = fake_server(lambda seen: Reply())
    endpoint_env(server)
    record = {"input_id": "a", "code": "+x", "output": "c", "is_like": 0}
    record["params"] = {"check": {"top_k": 3, "temperature": 0}}
    dataset = write_jsonl("cases.jsonl", [record])
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "--aicr-model=m")
    assert outcome.ret == 0, outcome.stdout.str()
    (seen,) = server.seen
    assert (seen.body["top_k"], seen.body["temperature"]) == (3, 0)
