"""Writing an output file whole or not at all.

The bytes go to a temporary file beside the target, are flushed to disk and then
renamed over it, so a full disk or a killed run leaves the old file (or none),
never half of a new one, and no temporary file behind. The file gets the
permissions a plain ``open()`` would give it (0666 less the umask), not the
private 0600 of a temporary file.

Only a regular file is ever replaced: a device, fifo, socket or folder at the
path is refused, and a symbolic link is written through, so the link stays and
the file it points to gets the new content.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from pytest_aicr.errors import UsageProblem


def _creation_mode() -> int:
    """0666 less the process umask, read once (``os.umask`` can only be swapped)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_CREATION_MODE = _creation_mode()


def write_atomically(path: Path, data: bytes) -> str | None:
    """Write ``data`` to ``path``; return why it failed (``strerror``) or None."""
    temporary = None
    try:
        path = path.resolve()
    except (OSError, RuntimeError) as exc:
        return f"the path cannot be resolved ({exc})"
    refusal = _not_a_file(path)
    if refusal is not None:
        return refusal
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".aicr-")
        os.fchmod(handle, _CREATION_MODE)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        return exc.strerror or str(exc)
    return None


def write_output(path: Path, data: bytes) -> None:
    """Write an ``aicr`` command's output file, or raise a usage problem naming it."""
    failure = write_atomically(path, data)
    if failure is not None:
        raise UsageProblem(f"{path}: cannot be written ({failure})")


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` must not be replaced, or None when it is a file or absent."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kind = "a folder" if stat.S_ISDIR(mode) else "a device, fifo or socket"
    return f"{path} is not a regular file but {kind}; give a file path"
