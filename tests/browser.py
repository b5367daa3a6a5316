"""Headless Chromium for report checks: find it, dump a page's DOM, screenshot it."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def find_chromium() -> str | None:
    """The path of a Chromium-like browser on PATH, if any."""
    return next((found for name in NAMES if (found := shutil.which(name))), None)


@dataclass
class Page:
    """What the browser made of a page."""

    dom: str
    console: list[str]
    seconds: float


def open_page(
    browser: str,
    page: Path,
    profile: Path,
    *extra: str,
    query: str = "",
    timeout: float = 60,
) -> Page:
    """Run the browser once on ``page`` with a fresh profile; DOM and console."""
    started = time.perf_counter()
    done = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri() + query],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    seconds = time.perf_counter() - started
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Page(done.stdout, console, seconds)
