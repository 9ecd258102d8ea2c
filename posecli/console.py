"""Where messages go: results to stdout, everything for humans (progress, warnings, errors) to stderr."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)

_quiet = False
_bars = 0  # progress bars open now


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def warn(message: str) -> None:
    if not _quiet:
        stderr.print(f"posecli: warning: {message}", markup=False, soft_wrap=True)  # one line in logs


def note(message: str) -> None:
    if not _quiet:
        stderr.print(message, markup=False, soft_wrap=True)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 frame', '2 frames', '0 tracks' (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


class _RateColumn(ProgressColumn):
    """Items per second (frames per second for video: the number users compare between tools)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        if task.total is not None and task.total <= 1:  # a rate over one item says nothing
            return Text("")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} {self.unit}" if speed else f"  ... {self.unit}", style="progress.data.speed")


@contextmanager
def progress(description: str, total: int | None, unit: str = "fps") -> Iterator[callable]:
    """Yield ``advance(n=1)``; draws a bar with fps on stderr unless --quiet. Inside another bar (a step of a
    longer job, e.g. tracking each view of a dataset) it draws nothing: the outer bar tells the progress,
    and rich allows one live display at a time."""
    global _bars
    if _quiet or _bars:
        yield lambda n=1: None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(unit),
                   TimeRemainingColumn(), console=stderr, transient=False)
    _bars += 1
    try:
        with bar:
            task = bar.add_task(description, total=total)
            started = time.perf_counter()
            yield lambda n=1: bar.advance(task, n)
            bar.update(task, description=f"{description} ({time.perf_counter() - started:.1f} s)")
    finally:
        _bars -= 1


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Mute what compiled libraries (absl, TFLite, glog inside mediapipe) write straight to file descriptor 2
    while they start: setup chatter ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager requires
    ...") that no Python setting reaches and that users cannot act on. posecli's own messages go through
    Python's sys.stderr, flushed before and after; a stderr without a file descriptor is left alone."""
    import os
    import sys

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
