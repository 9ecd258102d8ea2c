"""Read ahead: decode the next frames on a thread while the caller runs models on the current one.

PyAV decodes and converts with the GIL released, and LiteRT's Invoke does too, so a reader thread hides
most of the decoding time behind inference (bench/track_bench.py). The queue is bounded (``depth`` frames,
a few MB each) so memory stays flat; an error in the reader reaches the caller at the frame where it
happened; closing the generator early (Ctrl-C, an error downstream) stops the thread.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))

    thread = threading.Thread(target=work, name="posecli-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
