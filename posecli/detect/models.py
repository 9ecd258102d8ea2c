"""Find the BlazePose .tflite files inside the installed mediapipe wheel and open them with LiteRT.

We do not ship or download weights: mediapipe 0.10.14's wheel already bundles the person detector
and the "full" landmark model, so we resolve them from mediapipe's package directory without
importing mediapipe itself (its import is slow and pulls in the legacy graph runtime we replace).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import PoseCliError

DETECTOR_FILE = ("modules", "pose_detection", "pose_detection.tflite")
LANDMARK_FILE = ("modules", "pose_landmark", "pose_landmark_full.tflite")

# Two CPU cores on the reference machine; more threads only add contention there.
DEFAULT_THREADS = 2

_FIX_MEDIAPIPE = "install it with: pip install mediapipe==0.10.14 (its wheel contains the BlazePose models)"


def mediapipe_dir() -> Path:
    """Directory of the installed ``mediapipe`` package (found, not imported)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise PoseCliError("the mediapipe package is not installed", _FIX_MEDIAPIPE)
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(parts: tuple[str, ...]) -> Path:
    """Path of one bundled model file, with a clear error when this mediapipe build lacks it."""
    path = mediapipe_dir().joinpath(*parts)
    if not path.is_file():
        raise PoseCliError("the installed mediapipe package has no BlazePose model file", _FIX_MEDIAPIPE, path)
    return path


def open_interpreter(path: Path, num_threads: int = DEFAULT_THREADS):
    """A ready (tensors allocated) LiteRT interpreter for ``path``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise PoseCliError(
            "the LiteRT runtime (ai-edge-litert) is not installed",
            "install it with: pip install ai-edge-litert",
        ) from exc
    try:
        with _native_stderr_silenced():
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise PoseCliError(f"cannot load the model ({exc})", "reinstall mediapipe==0.10.14", path) from exc
    return interpreter


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """LiteRT's C++ side prints "INFO: Created TensorFlow Lite XNNPACK delegate" to fd 2, which would land
    between our progress bar and error lines; hide fd 2 while the interpreter is built."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (pytest capture, notebooks)
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            sys.stderr.flush()
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
