"""Writing an output file whole or not at all.

The bytes go to a temporary file beside the target, are flushed to disk and then
renamed over it, so a full disk or a killed run leaves the old file (or none),
never half of a new one, and no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> str | None:
    """Write ``data`` to ``path``; return why it failed (``strerror``) or None."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".aicr-")
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
