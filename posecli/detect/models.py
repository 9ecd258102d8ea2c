"""Find the BlazePose .tflite files inside the installed mediapipe wheel and run them with LiteRT or torch.

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

import numpy as np

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


RUNTIMES = ("litert", "torch")


class LiteRtRunner:
    """A model run by LiteRT (XNNPACK, CPU).  ``runner(batch)`` -> {output name: (N, ...) array}; the model's
    batch is 1, so a batch runs item by item."""

    def __init__(self, path: Path, num_threads: int = DEFAULT_THREADS, content: bytes | None = None):
        # ``content``: the model's bytes when they differ from ``path``'s (trained weights: detect.tflite_patch)
        self._path, self._threads, self._content = path, num_threads, content
        self._interp = open_interpreter(path, num_threads, content)
        self._input = self._interp.get_input_details()[0]["index"]
        details = self._interp.get_output_details()
        self.outputs = {o["name"]: tuple(int(d) for d in o["shape"][1:]) for o in details}
        self._index = {o["name"]: o["index"] for o in details}
        self._wanted = list(self.outputs)

    def select(self, names: list[str]) -> None:
        """Compute and return only these outputs: LiteRT runs every operator of a graph, so the interpreter is
        rebuilt on the model without the operators that feed only the others (``tflite_prune``)."""
        if set(names) != set(self.outputs):
            from .tflite_prune import pruned_model

            content = self._content if self._content is not None else self._path.read_bytes()
            self._interp = open_interpreter(self._path, self._threads, pruned_model(content, list(names)))
            self._input = self._interp.get_input_details()[0]["index"]
            self._index = {o["name"]: o["index"] for o in self._interp.get_output_details()}
        self._wanted = list(names)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """A non-empty batch (N, H, W, C)."""
        outs = []
        for item in batch:
            self._interp.set_tensor(self._input, np.ascontiguousarray(item[None], dtype=np.float32))
            self._interp.invoke()
            outs.append({n: self._interp.get_tensor(self._index[n]) for n in self._wanted})  # copies, batch of 1
        # one person (the common case): the model's own batch of 1, no concatenating copy
        return outs[0] if len(outs) == 1 else {n: np.concatenate([o[n] for o in outs]) for n in self._wanted}


class TorchRunner:
    """The same model converted to torch (``tflite_torch``), on any torch device, a whole batch per call."""

    def __init__(self, path: Path, device: str = "cpu", dtype=None, module=None):
        import torch

        from .tflite_torch import load_tflite

        # ``dtype``: float32 (default) everywhere posecli runs it; float16 / bfloat16 only for measuring what lower
        # precision would change (bench/blazepose_torch.py: more than the tolerance, so not used).
        # ``module``: the converted model, already built (fine-tuned weights loaded), instead of ``path``'s.
        self.path, self.device, self.dtype = path, torch.device(device), dtype or torch.float32
        self._module = load_tflite(path) if module is None else module
        self.outputs = dict(zip(self._module.output_names, self._module.output_shapes))
        self._place()

    def _place(self) -> None:
        import torch

        # NHWC input seen as NCHW is already channels-last in memory; channels-last weights keep the convolutions
        # from reordering it (2.5-6x faster on the CPU, measured on the detector; the layout cuDNN prefers too).
        self._module = self._module.to(self.device, self.dtype, memory_format=torch.channels_last)

    def select(self, names: list[str]) -> None:
        """Compute only these outputs: the layers that feed only the others are dropped."""
        self._module = self._module.select(list(names))
        self._place()

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """A non-empty batch (N, H, W, C)."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, self.dtype)
            outs = self._module(x)
            return {n: o.float().cpu().numpy() for n, o in zip(self._module.output_names, outs)}


def open_runner(parts: tuple[str, ...], runtime: str = "litert", device: str = "cpu",
                num_threads: int = DEFAULT_THREADS):
    """A runner for one bundled model: LiteRT (CPU only) or the torch port (any torch device)."""
    path = model_path(parts)
    if runtime == "torch":
        return TorchRunner(path, device)
    if runtime != "litert":
        raise PoseCliError(f"unknown model runtime {runtime!r}", f"use one of {', '.join(RUNTIMES)}")
    check_litert_device(device)
    return LiteRtRunner(path, num_threads)


def check_litert_device(device: str) -> None:
    if device.split(":")[0] != "cpu":
        raise PoseCliError(f"LiteRT runs BlazePose on the CPU only, not on {device}",
                           "use the torch port (track --backend blazepose-torch) or --device cpu")


def detector_module():
    """The wheel's person detector converted to torch, computing (boxes (N, 2254, 12), scores (N, 2254, 1)) in that
    order, and the sha256 of the file it came from (fine-tuned weights name it on their card)."""
    import hashlib

    from .tflite_torch import load_tflite

    path = model_path(DETECTOR_FILE)
    module = load_tflite(path)
    shapes = dict(zip(module.output_names, module.output_shapes))
    return module.select(sorted(shapes, key=lambda n: -shapes[n][-1])), hashlib.sha256(path.read_bytes()).hexdigest()


def fine_tuned_detector(weights: Path):
    """The person detector with weights from ``posecli train detector``, checked against their card (sha256) and
    against the wheel's detector they were trained from.  Returns (module, card)."""
    from ..train.weights import load_carded

    def build(card):
        module, sha = detector_module()
        if card.get("base_sha256") != sha:
            raise PoseCliError("these detector weights were trained from another version of BlazePose's detector",
                               "retrain them with `posecli train detector` or install mediapipe==0.10.14", weights)
        return module

    return load_carded(weights, "BlazePoseDetector", "person detector", "posecli train detector", build)


def open_interpreter(path: Path, num_threads: int = DEFAULT_THREADS, content: bytes | None = None):
    """A ready (tensors allocated) LiteRT interpreter for ``path`` (or for ``content``, bytes read from it)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise PoseCliError(
            "the LiteRT runtime (ai-edge-litert) is not installed",
            "install it with: pip install ai-edge-litert",
        ) from exc
    try:
        with _native_stderr_silenced():
            interpreter = (Interpreter(model_path=str(path), num_threads=num_threads) if content is None else
                           Interpreter(model_content=content, num_threads=num_threads))
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
