"""The report opened in a real headless Chromium: it renders, runs, stays inert."""

from __future__ import annotations

import pytest

from tests.browser import find_chromium, open_page
from tests.test_report_html import HOSTILE, assert_inert, hostile, write_report

BROWSER = find_chromium()


@pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH (install the 'chromium' package to run this check)",
)
def test_report_renders_in_headless_chromium(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, tmp_path
) -> None:
    assert BROWSER is not None
    endpoint_env(fake_server(hostile))
    report, _ = write_report(
        pytester, write_jsonl("hostile.jsonl", HOSTILE), "-p", "no:xdist"
    )
    page = open_page(BROWSER, report, tmp_path / "profile-dom", "--dump-dom")
    assert page.console == []
    assert 'id="aicr-summary"' in page.dom
    assert page.dom.count('<svg class="aicr-chart"') == 3
    assert page.dom.count('class="aicr-item"') == len(HOSTILE) * 2
    found = assert_inert(page.dom)
    assert "<script>alert('id')</script>" in " ".join(found.text)

    shot = tmp_path / "report.png"
    open_page(
        BROWSER,
        report,
        tmp_path / "profile-shot",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        query="?collapsed=",
    )
    assert shot.stat().st_size > 10_000
