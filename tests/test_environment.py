"""A hostile environment: missing optional plugins, places that cannot be written.

Tests run as root here, so a folder made read-only with ``chmod`` would still be
written; an unwritable place is made instead by putting a regular file where a
folder must be created, which fails for every user alike.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.test_corruption import CHECK, assert_clean, counts_of, evaluate
from tests.test_end_to_end import SAMPLES, scripted


@pytest.fixture(autouse=True)
def own_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The key pool's fallback folder lands here, not in the machine's /tmp."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def run_check(
    pytester: pytest.Pytester, *args: str
) -> tuple[pytest.RunResult, dict[str, object]]:
    """A check-strategy run on ``cases.jsonl`` with the default cache place."""
    return evaluate(pytester, pytester.path / "cases.jsonl", *args, own_cache=False)


def test_a_cache_dir_that_cannot_be_created_leaves_the_run_going_without_it(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    own_temporary_folder: Path,
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    write_jsonl("cases.jsonl", SAMPLES)
    blocker = pytester.path / "somefile"
    blocker.write_text("a file where the cache folder's parent should be\n")
    cache = blocker / "cache"
    for run in (1, 2):
        outcome, data = run_check(pytester, f"--aicr-cache-dir={cache}")
        assert outcome.ret == 0, outcome.stdout.str()
        assert_clean(outcome.stdout.str())
        assert counts_of(data) == CHECK
        assert len(server.seen) == run * len(SAMPLES)
        outcome.stdout.fnmatch_lines(
            [
                f"response cache {cache}: answers not written (Not a directory)*",
                f"cache directory {cache} cannot be created (Not a directory): the "
                "key pool lives in * instead*",
            ]
        )
        assert outcome.stdout.str().count("answers not written") == 1
        [fallback] = own_temporary_folder.glob("pytest-aicr-*")
        assert (fallback / "keypool.sqlite3").is_file()


def test_a_rootdir_where_nothing_can_be_created_still_runs(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    write_jsonl("cases.jsonl", SAMPLES)
    for name in (".aicr_cache", ".pytest_cache"):
        (pytester.path / name).write_text("not a folder\n")
    outcome, data = run_check(pytester, "-W", "ignore::pytest.PytestCacheWarning")
    assert outcome.ret == 0, outcome.stdout.str()
    assert_clean(outcome.stdout.str())
    assert counts_of(data) == CHECK
    outcome.stdout.fnmatch_lines(
        [f"cache directory {pytester.path / '.aicr_cache'} cannot be created*"]
    )


BLOCKED = "raise ImportError('simulated: {name} is not installed')\n"


@pytest.fixture
def without_xdist_and_html(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subprocess runs in which pytest-xdist and pytest-html cannot be imported.

    Plugin autoloading is off, so their entry points are not loaded either; the
    plugin under test and pytester are named with ``-p``.
    """
    shadow = pytester.path / "shadow"
    for name in ("xdist", "pytest_html"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(BLOCKED.format(name=name))
    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow), str(root)]))


def run_bare(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p",
        "pytest_aicr.plugin",
        f"--aicr-dataset={pytester.path / 'cases.jsonl'}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-max-errors=1",
        f"--aicr-xlsx={pytester.path / 'out.xlsx'}",
        *args,
    )


@pytest.mark.usefixtures("without_xdist_and_html")
def test_without_xdist_and_pytest_html_the_run_works_and_n_is_refused_by_pytest(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    write_jsonl("cases.jsonl", SAMPLES)
    outcome = run_bare(pytester)
    assert outcome.ret == 0, outcome.stdout.str() + outcome.stderr.str()
    assert_clean(outcome.stdout.str() + outcome.stderr.str())
    outcome.stdout.fnmatch_lines(["check@m: 6 items", "  counts   tp=2  fp=2*"])
    blocked = run_bare(pytester, "-p", "xdist")
    blocked.stderr.fnmatch_lines(["*simulated: xdist is not installed*"])
    assert (pytester.path / "out.xlsx").stat().st_size > 0

    for option in ("-n2", "--html=report.html"):
        refused = run_bare(pytester, option)
        assert refused.ret == pytest.ExitCode.USAGE_ERROR
        refused.stderr.fnmatch_lines(["*error: unrecognized arguments: *"])
        assert_clean(refused.stdout.str() + refused.stderr.str())
