"""API keys and URL credentials never reach a file or the output of a run.

Canary secrets are given to whole runs with every output on (DEBUG logs, the log
file, results, workbook, HTML report, junit xml, the response cache) while the
fake server echoes the key back in error bodies and headers. Afterwards every file
under the run's folder (inside zips too) and the run's stdout and stderr are
searched for any 5 characters in a row of each canary: more than the last 4
that a masked form shows.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_aicr.errors import BadRequest
from pytest_aicr.scrubbing import (
    forget,
    guard_logging,
    protect,
    release_logging,
    scrub,
    shorten,
    url_secrets,
)
from tests.conftest import WIDE_BUDGET, read_results
from tests.fakeserver import FakeServer, Reply, Seen, comments_reply

KEY_REJECTED = "sk-CANARY-9a2c4e6b8d0f1357-dead"
KEY_OK = "sk-CANARY-5e1f0a9c3b7d2e64-ok01"
KEY_OK2 = "sk-CANARY-b83d6c0f2a9e4175-ok02"
URL_SECRET = "CANARY-URLPASS-4c8e1a7f93d2b650"
# what an HTTP client sends for those credentials, and an echoing gateway repeats
BASIC = base64.b64encode(f"aicr:{URL_SECRET}".encode()).decode()
WINDOW = 5

HELPFUL = "The loop never ends when `items` is empty; add a guard before it."
SAMPLES = [
    {
        "input_id": name,
        "code": f"+while items: # {name}",
        "output": HELPFUL,
        "is_like": 0,
    }
    for name in ("OK1", "OK2", "OK3", "OK4", "E400", "E429", "E500")
]


class EchoingGateway:
    """Rejects one key with 401 and echoes the key in 400, 429 and 500 answers."""

    def __init__(self, rejected: str) -> None:
        self.rejected = rejected
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        sample = next(
            s["input_id"] for s in SAMPLES if f"# {s['input_id']}" in seen.prompt
        )
        with self._lock:
            self.attempts[sample] += 1
            first = self.attempts[sample] == 1
        if seen.key == self.rejected:
            return Reply(status=401, echo_key=True)
        if sample == "E400":
            return Reply(status=400, echo_key=True)
        if sample == "E500":
            return Reply(status=500, echo_key=True)
        if sample == "E429" and first:
            return Reply(status=429, echo_key=True, headers={"retry-after-ms": "10"})
        return comments_reply(HELPFUL)


def fragments(secret: str) -> set[bytes]:
    """Every run of ``WINDOW`` characters of the secret: more than its last 4."""
    raw = secret.encode("utf-8")
    return {raw[i : i + WINDOW] for i in range(len(raw) - WINDOW + 1)}


def blobs(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under ``root`` as bytes, and every member of the zips among them."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        yield str(path), path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    yield f"{path}!{name}", archive.read(name)


def leaks(secrets: list[str], root: Path, outcome: pytest.RunResult) -> list[str]:
    """Where any fragment of any secret was found."""
    output = ("stdout", "\n".join(outcome.outlines).encode("utf-8"))
    errors = ("stderr", "\n".join(outcome.errlines).encode("utf-8"))
    found = []
    for where, blob in [output, errors, *blobs(root)]:
        for secret in secrets:
            for fragment in sorted(fragments(secret)):
                at = blob.find(fragment)
                if at >= 0:
                    context = blob[max(0, at - 60) : at + 60].decode(errors="replace")
                    found.append(f"{where}: ...{secret[-4:]} in {context!r}")
                    break
    return found


def all_outputs(out: Path) -> list[str]:
    return [
        "--log-level=DEBUG",
        f"--log-file={out / 'run.log'}",
        "--log-file-level=DEBUG",
        "--log-cli-level=DEBUG",
        "-rA",
        "-v",
        f"--aicr-results={out / 'results.json'}",
        f"--aicr-xlsx={out / 'results.xlsx'}",
        f"--html={out / 'report.html'}",
        "--self-contained-html",
        f"--junitxml={out / 'junit.xml'}",
        "--aicr-retry-attempts=2",
        "--aicr-retry-base=0.01",
        "--aicr-max-errors=10",
    ]


def test_canary_keys_reach_no_file_and_no_output_under_xdist(
    pytester: pytest.Pytester,
    fake_server,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: FakeServer = fake_server(EchoingGateway(rejected=KEY_REJECTED[-4:]))
    monkeypatch.setenv("AICR_BASE_URL", server.url)
    monkeypatch.setenv("AICR_API_KEYS", ",".join([KEY_REJECTED, KEY_OK, KEY_OK2]))
    monkeypatch.setenv("PYTEST_ADDOPTS", WIDE_BUDGET)
    out = pytester.path / "out"
    dataset = write_jsonl("cases.jsonl", SAMPLES)

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-n", "2", *all_outputs(out)
    )

    found = leaks([KEY_REJECTED, KEY_OK, KEY_OK2], pytester.path, outcome)
    assert not found, "\n".join(found)
    data = read_results(out / "results.json")
    errors = {s["input_id"]: s["error"] for s in data["samples"] if s["error"]}
    assert set(errors) == {"E400", "E500"}, outcome.stdout.str()
    assert errors["E400"]["category"] == "bad_request"
    assert "incorrect API key provided: ...ok0" in errors["E400"]["message"]
    assert set(data["keys"]["...dead"]["failures"]) == {"401"}
    assert {"...ok01", "...ok02"} <= set(data["keys"])
    outcome.stdout.fnmatch_lines(["*DEBUG*", "*bad_request in check, status 400*"])
    for name in ("run.log", "results.xlsx", "report.html", "junit.xml"):
        assert (out / name).stat().st_size > 0, name
    assert list((pytester.path / ".aicr_cache").rglob("*.json"))


def test_credentials_in_the_base_url_reach_no_file_and_no_output(
    pytester: pytest.Pytester,
    fake_server,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: FakeServer = fake_server(EchoingGateway(rejected="none"))
    url = server.url.replace("http://", f"http://aicr:{URL_SECRET}@")
    monkeypatch.setenv("AICR_BASE_URL", url)
    monkeypatch.setenv("AICR_API_KEYS", KEY_OK)
    monkeypatch.setenv("PYTEST_ADDOPTS", WIDE_BUDGET)
    out = pytester.path / "out"
    dataset = write_jsonl("cases.jsonl", SAMPLES)

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}", "--aicr-model=m", *all_outputs(out)
    )

    found = leaks([URL_SECRET, BASIC, KEY_OK], pytester.path, outcome)
    assert not found, "\n".join(found)
    data = read_results(out / "results.json")
    assert {s["input_id"] for s in data["samples"] if s["error"]} == {"E400", "E500"}
    outcome.stdout.fnmatch_lines(["*HTTP Request: POST http://...b650@127.0.0.1*"])
    error = next(s["error"] for s in data["samples"] if s["input_id"] == "E400")
    assert "Authorization: Basic ...b650" in error["message"]


CRASHING_STRATEGY = """
import os

from pytest_aicr.chain import Strategy


class Crashing(Strategy):
    name = "crashing"
    stages = ("check",)

    def run(self, sample, variant, gateway):
        secret = os.environ["AICR_API_KEYS"]
        endpoint = os.environ["AICR_BASE_URL"]
        raise RuntimeError(f"cannot use {secret} at {endpoint}")
"""


def test_an_unexpected_exception_is_shown_scrubbed_with_its_locals(
    pytester: pytest.Pytester, write_jsonl, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(crashing_strategy=CRASHING_STRATEGY)
    published = pytester.mkdir("crashing_strategy-1.0.dist-info")
    (published / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crashing-strategy\nVersion: 1.0\n"
    )
    (published / "entry_points.txt").write_text(
        "[pytest_aicr.strategies]\ncrashing = crashing_strategy:Crashing\n"
    )
    monkeypatch.setenv("AICR_BASE_URL", f"http://aicr:{URL_SECRET}@127.0.0.1:1/v1")
    monkeypatch.setenv("AICR_API_KEYS", KEY_OK)
    out = pytester.path / "out"
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}",
        "--aicr-strategy=crashing",
        "--aicr-model=m",
        "-l",
        *all_outputs(out),
    )

    found = leaks([URL_SECRET, BASIC, KEY_OK], pytester.path, outcome)
    assert not found, "\n".join(found)
    outcome.stdout.fnmatch_lines(
        [
            "*RuntimeError: cannot use ...ok01 at http://...b650@127.0.0.1:1/v1",
            "*endpoint *= 'http://...b650@127.0.0.1:1/v1'",
            "*secret *= '...ok01'",
        ]
    )


@pytest.fixture
def known_key() -> Iterator[str]:
    protect({KEY_OK: "...ok01"})
    yield KEY_OK
    forget()


def test_scrub_masks_a_known_key_anywhere_and_the_userinfo_of_any_url(
    known_key: str,
) -> None:
    text = (
        f"GET https://gw.example/v1?key={known_key}&v=2 failed; "
        "store redis://:hunter2-hunter2@cache:6379/0 down; "
        f"proxy http://ops:{URL_SECRET}@proxy:3128"
    )
    assert scrub(text) == (
        "GET https://gw.example/v1?key=...ok01&v=2 failed; "
        "store redis://...@cache:6379/0 down; "
        "proxy http://...b650@proxy:3128"
    )


def test_shorten_scrubs_before_it_cuts(known_key: str) -> None:
    text = f"the body echoed {known_key} back"
    assert shorten(text, 26) == "the body echoed ...ok01 ba"
    assert "sk-CANAR" not in shorten(text, 26)


def test_url_secrets_are_the_credentials_and_key_like_query_values() -> None:
    url = (
        f"https://aicr:{URL_SECRET}@gw.example/v1"
        "?api-key=query-secret-1234&api-version=2024-06-01&code=ab"
    )
    found = url_secrets(url)
    assert found[URL_SECRET] == found[BASIC] == "...b650"
    assert found["query-secret-1234"] == "...1234"
    # the version is not secret; a 2-character value would mask that word everywhere
    assert set(found) == {f"aicr:{URL_SECRET}", URL_SECRET, BASIC, "query-secret-1234"}
    assert url_secrets("http://127.0.0.1:8000/v1") == {}


@pytest.mark.parametrize("host", ["[::1", "[::1]:port", "[not-an-ip]"])
def test_url_secrets_of_a_url_that_does_not_parse(host: str) -> None:
    found = url_secrets(f"http://aicr:{URL_SECRET}@{host}/v1?api-key=query-secret-1234")
    assert found[URL_SECRET] == found[BASIC] == "...b650"
    assert found["query-secret-1234"] == "...1234"


def test_a_stage_error_is_stored_and_shown_scrubbed(known_key: str) -> None:
    error = BadRequest(f"gateway said: bad key {known_key}", stage="check", status=400)
    assert error.as_record()["message"] == "gateway said: bad key ...ok01"
    assert error.one_line().endswith("bad key ...ok01")


def test_guarded_logging_scrubs_arguments_and_tracebacks(known_key: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    before = logging.getLogRecordFactory()
    guard_logging()
    try:
        logger.error("sent Authorization: Bearer %s", known_key)
        logger.error("one placeholder, two arguments: %s", "x", known_key)
        try:
            raise RuntimeError(f"rejected {known_key} at http://u:{URL_SECRET}@h")
        except RuntimeError:
            logger.exception("call failed")
    finally:
        release_logging()
        logger.removeHandler(handler)
    assert logging.getLogRecordFactory() is before
    written = stream.getvalue()
    assert "Bearer ...ok01" in written
    # a bad format string is kept unformatted instead of printed raw by the handler
    assert "one placeholder, two arguments: %s ('x', '...ok01')" in written
    assert "RuntimeError: rejected ...ok01 at http://...b650@h" in written
    assert "CANARY" not in written


def test_a_key_store_password_is_masked_in_the_usage_error(
    pytester: pytest.Pytester, write_jsonl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICR_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("AICR_API_KEYS", KEY_OK)
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])
    limiter = f"redis://aicr:{URL_SECRET}@127.0.0.1:1/0?password={URL_SECRET}"

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}", "--aicr-model=m", f"--aicr-limiter={limiter}"
    )

    found = leaks([URL_SECRET], pytester.path, outcome)
    assert not found, "\n".join(found)
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        ["*key pool store redis://...b650@127.0.0.1:1/0?password=...b650: cannot be*"]
    )


def test_scrub_stays_linear_on_long_dotted_text() -> None:
    text = "a." * 100_000 + "x://"
    started = time.perf_counter()
    assert scrub(text) == text
    # a backtracking URL pattern took 11 s here; a linear one takes milliseconds
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "127.0.0.1:port/v1",
            "ERROR: endpoint http://...b650@127.0.0.1:port/v1 is not a usable URL "
            "(Port could not be cast to integer value as 'port'); fix --aicr-base-url, "
            "AICR_BASE_URL or OPENAI_BASE_URL",
        ),
        (
            "[::1/v1",
            "ERROR: endpoint http://...b650@[[]::1/v1 is not a usable URL "
            "(Invalid IPv6 URL)*",
        ),
    ],
)
def test_an_unusable_base_url_is_a_usage_error_that_masks_its_credentials(
    pytester: pytest.Pytester,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    message: str,
) -> None:
    monkeypatch.setenv("AICR_BASE_URL", f"http://aicr:{URL_SECRET}@{where}")
    monkeypatch.setenv("AICR_API_KEYS", KEY_OK)
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}", "--aicr-model=m"
    )

    found = leaks([URL_SECRET, BASIC, KEY_OK], pytester.path, outcome)
    assert not found, "\n".join(found)
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines([message])
    output = outcome.stderr.str() + outcome.stdout.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("sk-CANARY-7d1e\n9c3b5a0f2e64-nl01", "(...nl01) holds character U+000A at "),
        ("sk-CANARY-7d1e\t9c3b5a0f2e64-tb02", "(...tb02) holds character U+0009 at "),
        ("sk-CANARY-7d1e 9c3b5a0f2e64-sp03", "(...sp03) holds character U+0020 at "),
        ('sk-CANARY-7d1e9c3b5a0f2e64-q"04', "holds character U+0022 at position 29"),
        ("sk-CANARY-7d1e9c3b5a0f2e64-bs0\\", "holds character U+005C at position 31"),
        ("sk-CANARY-7d1e9c3b5a0f2e64-acc\u00e9", "holds character U+00E9 at "),
    ],
)
def test_a_key_no_header_can_carry_is_a_usage_error_naming_it_masked(
    pytester: pytest.Pytester,
    fake_server,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    shown: str,
) -> None:
    server = fake_server(lambda seen: Reply(status=401, echo_key=True))
    monkeypatch.setenv("AICR_BASE_URL", server.url)
    monkeypatch.setenv("AICR_API_KEYS", f"{KEY_OK},{bad}\r\n")
    dataset = write_jsonl("cases.jsonl", SAMPLES[:2])

    outcome = pytester.runpytest_subprocess(
        f"--aicr-dataset={dataset}", "--aicr-model=m", *all_outputs(pytester.path)
    )

    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert not server.seen
    found = leaks([bad, KEY_OK], pytester.path, outcome)
    assert not found, "\n".join(found)
    outcome.stderr.fnmatch_lines([f"ERROR: API key 2 in AICR_API_KEYS *{shown}*"])
    if '"' in bad or "\\" in bad:
        assert bad[-4:] not in outcome.stderr.str()
    assert "Traceback" not in outcome.stderr.str() + outcome.stdout.str()
