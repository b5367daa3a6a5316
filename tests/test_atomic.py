"""Whole-or-nothing output files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

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


def _device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_a_path_that_is_not_a_regular_file_is_left_alone(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "out"
    if kind == "device":
        _device(target)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    before = os.lstat(target)

    problem = write_atomically(target, b"{}")

    assert problem is not None
    assert "not a regular file" in problem
    assert str(target) in problem
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert os.listdir(tmp_path) == ["out"]


def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)

    assert write_atomically(link, b"new") is None

    assert link.is_symlink()
    assert real.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    device = tmp_path / "device"
    _device(device)
    link = tmp_path / "link"
    link.symlink_to(device)

    problem = write_atomically(link, b"{}")

    assert problem is not None
    assert "not a regular file" in problem
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert link.is_symlink()
