"""Running a fixed-length temporal model over a sequence of any length.

The paper trains and tests on clips of N frames and says nothing about longer videos. posecli slides windows of
N frames with stride N/2 (the last window ends at the last frame) and blends overlapping outputs with a
triangular weight that is highest mid-window: a frame near a window's edge sees context on one side only and,
at the window start, gets no forecast (F_1 = h_1), so the window in which it sits nearer the middle should
dominate. Sequences shorter than N run as one zero-padded, masked window.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def window_starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def blend_weights(size: int, floor: float = 0.1) -> np.ndarray:
    k = np.arange(size)
    return 1.0 - (1.0 - floor) * np.abs(2 * k / max(size - 1, 1) - 1)


@torch.no_grad()
def run_windows(model: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]], x: np.ndarray,
                size: int, keys: tuple[str, ...] = ("joints", "camera"), batch: int = 64,
                device: str = "cpu") -> dict[str, np.ndarray]:
    """``x`` (T, ...) model input per frame -> {key: (T, ...)} blended outputs."""
    length = len(x)
    stride = max(1, size // 2)
    starts = window_starts(length, size, stride)
    clip = min(size, length)
    pad = size - clip
    windows = np.stack([x[s:s + clip] for s in starts])
    mask = np.ones((len(starts), size), dtype=bool)
    if pad:
        windows = np.concatenate([windows, np.zeros((len(starts), pad, *x.shape[1:]), x.dtype)], 1)
        mask[:, clip:] = False
    w = blend_weights(clip)
    acc: dict[str, np.ndarray] = {}
    total = np.zeros(length)
    for b in range(0, len(starts), batch):
        xb = torch.as_tensor(windows[b:b + batch], device=device)
        mb = torch.as_tensor(mask[b:b + batch], device=device)
        out = model(xb, mb)
        for i, s in enumerate(starts[b:b + batch]):
            for key in keys:
                y = out[key][i, :clip].float().cpu().numpy()
                acc.setdefault(key, np.zeros((length, *y.shape[1:])))[s:s + clip] += w.reshape(-1, *[1] * (y.ndim - 1)) * y
            total[s:s + clip] += w
    return {k: (v / total.reshape(-1, *[1] * (v.ndim - 1))).astype(np.float32) for k, v in acc.items()}


def lifter_keys(model) -> tuple[str, ...]:
    """The per-frame outputs of a lifter that the pipeline keeps."""
    return ("joints", "camera") + (("up",) if getattr(model.config, "up_head", False) else ())


@torch.no_grad()
def run_lifter(model, x: np.ndarray, size: int, device: str = "cpu", chunk: int = 1024) -> dict[str, np.ndarray]:
    """Any lifter over a whole sequence: a convolutional one (``receptive_field``) with the sequence's edges
    repeated, as VideoPose3D runs it, in pieces of ``chunk`` output frames that each read their receptive
    field around them (the same numbers as one pass, with memory bounded for long videos); a windowed one
    (SPS) through :func:`run_windows`."""
    keys = lifter_keys(model)
    rf = getattr(model, "receptive_field", None)
    if rf:
        half = (rf - 1) // 2
        padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for s in range(0, len(x), chunk):
            piece = padded[s:s + min(chunk, len(x) - s) + rf - 1]
            out = model(torch.as_tensor(piece[None], device=device))
            for k in keys:
                parts[k].append(out[k][0].float().cpu().numpy())
        return {k: np.concatenate(v) for k, v in parts.items()}
    return run_windows(model, x, size, keys=keys, device=device)
