"""Pictures of what CSS learnt: one row per video - the input frame with the detector's box, the crop, the
reconstruction composited over the background, and a TI swap (this frame's TV decoded with the TI of the next
row's video: the pose should stay, the appearance change). Written as a PNG while ``train css`` runs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..atomic import atomic_path


def _img(t: torch.Tensor, size: int) -> np.ndarray:
    a = (t.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return cv2.resize(a, (size, size), interpolation=cv2.INTER_NEAREST) if a.shape[0] != size else a


def box_pixels(box: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(sx, sy, ux, uy) in normalised frame coordinates -> x0, y0, x1, y1 pixels of a ``size`` frame."""
    sx, sy, ux, uy = (float(v) for v in box)
    half = size / 2
    return (round((ux - sx + 1) * half), round((uy - sy + 1) * half), round((ux + sx + 1) * half),
            round((uy + sy + 1) * half))


@torch.no_grad()
def write_grid(model, cs, backgrounds: np.ndarray, videos: list[np.ndarray], path: Path, device: str = "cpu") -> Path:
    from ..train.css import fetch, to_tensor

    rows = np.array([v[len(v) // 2] for v in videos])
    frames = to_tensor(fetch(cs, rows), device)
    bg = to_tensor(backgrounds[cs.group[rows]], device)
    box = model.detect(frames)
    crops = model.crop(frames, box)
    trunk = model._trunk(crops)
    tv = model.fc_tv(trunk)
    if model.fc_ti is not None:
        ti = model.fc_ti(trunk)
        rgb, mask = model.decode(tv, ti)
        swapped = model.decode(tv, ti.roll(-1, 0))
    else:
        rgb, mask = model.decode(tv)
        swapped = None
    recon = model.composite(rgb, mask, box, bg)
    size = model.cfg.frame_size
    lines = []
    for i in range(len(rows)):
        frame = np.ascontiguousarray(_img(frames[i], size))
        x0, y0, x1, y1 = box_pixels(box[i].cpu().numpy(), size)
        cv2.rectangle(frame, (x0, y0), (x1, y1), (255, 64, 0), 1)
        tiles = [frame, _img(crops[i], size), _img(recon[i], size)]
        if swapped is not None:
            tiles.append(_img(model.composite(swapped[0][i:i + 1], swapped[1][i:i + 1], box[i:i + 1],
                                              bg[i:i + 1])[0], size))
        lines.append(np.concatenate(tiles, 1))
    picture = np.concatenate(lines, 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        Path(tmp).write_bytes(data.tobytes())
    return path
