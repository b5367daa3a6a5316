"""pytest hooks of pytest-aicr: decide whether the plugin is on, then delegate.

Without ``--aicr-dataset`` the plugin only registers its options: nothing heavy is
imported and no hook does work. With it, an :class:`~pytest_aicr.session.Evaluation`
is built and registered; it owns collection, running and judging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aicr.options import add_options, read_settings

if TYPE_CHECKING:
    from pytest_aicr.session import Evaluation

EVALUATION_KEY = pytest.StashKey["object"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--aicr-*`` options."""
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """An ``--html`` path with a file where a folder must be is a usage error.

    pytest-html makes the report's folders while it is configured and would crash
    there; this says which path is in the way before anything runs.
    """
    given = config.getoption("htmlpath", None)
    if not given or not config.pluginmanager.hasplugin("html"):
        return
    report = Path.cwd() / Path(os.path.expandvars(given)).expanduser()
    folders = [report.parent, *report.parent.parents]
    if not config.getoption("self_contained_html", False):
        folders.insert(0, report.parent / "assets")
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise pytest.UsageError(
                f"--html {given}: {folder} is a file where a folder must be; "
                "give a report path in a folder"
            )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Build the evaluation when a dataset is given; bad input is a usage error."""
    from pytest_aicr.errors import UsageProblem

    try:
        settings = read_settings(config)
        if settings is None:
            return
        from pytest_aicr.session import Evaluation

        evaluation = Evaluation(config, settings)
    except UsageProblem as problem:
        from pytest_aicr.scrubbing import forget, release_logging, scrub

        message = scrub(str(problem))
        release_logging()
        forget()
        raise pytest.UsageError(message) from None
    config.stash[EVALUATION_KEY] = evaluation
    config.pluginmanager.register(evaluation, "aicr-evaluation")
    if not evaluation.is_worker:
        config.pluginmanager.register(evaluation.ledger, "aicr-ledger")
    _add_html_report(config, evaluation)
    _add_progress(config, evaluation)
    _point_collection_at_datasets(config, [str(p) for p in evaluation.dataset_paths])


def _point_collection_at_datasets(config: pytest.Config, paths: list[str]) -> None:
    """Collect the datasets; alone unless test paths were given explicitly."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = paths
        return
    config.args = [*config.args, *(p for p in paths if p not in config.args)]


def _add_html_report(config: pytest.Config, evaluation: Evaluation) -> None:
    """The report section, only when pytest-html is active and writing a report."""
    if not config.pluginmanager.hasplugin("html"):
        return
    if not config.getoption("htmlpath", None):
        return
    from pytest_aicr.report_html import HtmlReport

    config.pluginmanager.register(HtmlReport(evaluation), "aicr-html")


def _add_progress(config: pytest.Config, evaluation: Evaluation) -> None:
    """The progress line, where the run is judged and unless ``-q`` is given."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if evaluation.is_worker or reporter is None or config.get_verbosity() < 0:
        return
    from pytest_aicr.progress import Progress

    config.pluginmanager.register(Progress(reporter), "aicr-progress")
