"""Whole-or-nothing output files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pytest_aicr.atomic import write_atomically


def test_output_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    target = tmp_path / "out" / "results.json"
    plain = tmp_path / "plain.json"
    plain.write_bytes(b"{}")

    assert write_atomically(target, b"{}") is None

    assert target.read_bytes() == b"{}"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert os.listdir(target.parent) == ["results.json"]


def test_unwritable_target_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    problem = write_atomically(blocker / "results.json", b"{}")

    assert problem is not None
    assert sorted(os.listdir(tmp_path)) == ["file"]
