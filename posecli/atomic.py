"""Atomic output files: write to a temporary file beside the target, rename on success.

A failed or interrupted run therefore never leaves a partial or corrupt output behind (DESIGN.md, Errors).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def check_writable(path: str | Path) -> Path:
    """Fail early, before any long work, when ``path`` cannot be created."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError("is a directory, not a file", "give a file name, e.g. out.npz", path)
    if not parent.exists():
        raise OutputError("output directory does not exist", f"create it first: mkdir -p {parent}", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("output directory is not writable", "choose another --out location", path)
    try:  # access() says yes for root and for pseudo file systems (/proc): really create a file there
        fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot create files in {parent} ({exc.strerror or exc})",
                          "choose another --out location", path) from None
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; move it onto ``path`` only if the block succeeds.

    The temporary name keeps the target's suffix so that libraries choosing a format from the extension
    (PyAV, numpy, OpenCV) behave as they would for the real name.
    """
    path = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", "choose another --out location", path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            # mkstemp creates 0600; an output file gets the mode any program's would: 0666 minus the umask
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except OSError as exc:
            raise OutputError(f"cannot write ({exc.strerror or exc})", "check permissions", path) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
