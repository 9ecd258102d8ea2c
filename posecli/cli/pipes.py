"""Shell pipelines: ``-o -`` writes the result to stdout, ``-`` as input reads a pose file from stdin.

    posecli track a.mp4 -o - | posecli estimate - -o poses.npz
    posecli estimate a.mp4 -o - --format json | jq '.tracks[0].frames | length'

The formats are written to a temporary file first and copied to stdout only once complete, so a failure
sends nothing downstream (the reader then sees empty input and says so) rather than half a file. Input from
stdin is read whole into a temporary file and sniffed: NPZ (a zip: ``PK``) or JSON (posecli's or COCO's).
Progress, warnings and the ``wrote ...`` note stay on stderr, so stdout carries only the data.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..atomic import check_writable
from ..errors import InputError

STDIO = "-"
PIPE_EXAMPLE = "posecli track a.mp4 -o - | posecli estimate - -o poses.npz"


def is_stdio(path: str | Path | None) -> bool:
    return path is not None and str(path) == STDIO


def check_output(out: Path) -> None:
    """``check_writable`` for files; stdout needs no check."""
    if not is_stdio(out):
        check_writable(out)


def describe(out: Path) -> str:
    return "stdout" if is_stdio(out) else str(out)


@contextmanager
def output_file(out: Path, suffix: str = ".npz") -> Iterator[Path]:
    """The path to write to: ``out`` itself, or for ``-o -`` a temporary file streamed to stdout afterwards."""
    if not is_stdio(out):
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="posecli-stdout-") as folder:
        tmp = Path(folder) / f"result{suffix}"
        yield tmp
        try:
            with open(tmp, "rb") as src:
                shutil.copyfileobj(src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            # the reader stopped early (| head): what it read was its choice; point stdout at devnull so
            # that Python's own flush at exit does not fail again (the recipe in Python's signal docs)
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@contextmanager
def input_file(source: Path) -> Iterator[Path]:
    """``source`` itself, or for ``-`` standard input saved to a temporary file with the right suffix."""
    if not is_stdio(source):
        yield source
        return
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("'-' reads a pose file from standard input, but nothing is piped in",
                         f"pipe one in, e.g. {PIPE_EXAMPLE}")
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input is empty (the command before the pipe wrote nothing: did it fail?)",
                         f"check the first command, e.g. {PIPE_EXAMPLE}")
    if data[:2] == b"PK":
        suffix = ".npz"
    elif data.lstrip()[:1] in (b"{", b"["):
        suffix = ".json"
    else:
        raise InputError("standard input is not a pose file (neither NPZ nor JSON); a video cannot be piped in",
                         "pipe a pose file (-o - of track/estimate), or give the video's path")
    with tempfile.TemporaryDirectory(prefix="posecli-stdin-") as folder:
        tmp = Path(folder) / f"stdin{suffix}"
        tmp.write_bytes(data)
        yield tmp
