"""Loading CSS weights, and ``estimate --model css``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..console import progress
from ..models.css import CssConfig, CssModel
from ..poses import KEYPOINTS_3D, Keypoints, Poses, Track
from ..train.weights import load_carded

BOX = "box_css"
FRAME_NOTE = ("pelvis-centred, camera axes (x right, y down, z forward), metres; CSS predicts no root "
              "position (the paper's target)")


def load_css(path: str | Path, device: str = "cpu") -> tuple[CssModel, dict]:
    return load_carded(path, "CssModel", "CSS", "posecli train css",
                       lambda card: CssModel(CssConfig(**card["config"]["model"])), device)


@torch.no_grad()
def css_poses(video: str | Path, weights: str | Path, device: str = "cpu", start: int = 0, end: int | None = None,
              every: int = 1, fps: float | None = None, batch: int = 64) -> Poses:
    """The paper's inference: each whole frame -> the detector's box -> TV -> Phi -> a pelvis-centred 3D pose in
    the camera's axes. One person (CSS models one subject per video): one track, every frame."""
    from ..images.crops import crop
    from ..images.frames import frame_square
    from ..train.css import to_tensor
    from ..video import probe, read_frames

    model, card = load_css(weights, device)
    size = model.net.cfg.frame_size
    info = probe(video, fps=fps)
    frames, times, poses, boxes, pending = [], [], [], [], []

    def flush() -> None:
        if not pending:
            return
        box, latent, _ = model.net.features(to_tensor(np.stack(pending), device))
        poses.append(model.head.metres(latent).cpu().numpy())
        boxes.append(box.cpu().numpy())
        pending.clear()

    with progress("css", None, "frames") as advance:
        for frame in read_frames(video, start=start, end=end, every=every, fps=fps):
            h, w = frame.image.shape[:2]
            pending.append(crop(frame.image, frame_square(w, h), size))
            frames.append(frame.index)
            times.append(frame.time)
            if len(pending) >= batch:
                flush()
            advance()
        flush()
    if not frames:
        return Poses([], info.fps, info.width, info.height, info.frames, str(video), {}, {})
    p = np.concatenate(poses).astype(np.float32)
    p -= p[:, :1]  # Phi regresses pelvis-centred poses; make the pelvis exactly 0
    side = max(info.width, info.height)
    b = np.concatenate(boxes)
    cx, cy = info.width / 2 + b[:, 2] * side / 2, info.height / 2 + b[:, 3] * side / 2
    xyxy = np.stack([cx - b[:, 0] * side / 2, cy - b[:, 1] * side / 2, cx + b[:, 0] * side / 2,
                     cy + b[:, 1] * side / 2], 1).astype(np.float32)
    conf = np.ones(p.shape[:2], np.float32)
    track = Track(1, np.asarray(frames), np.asarray(times), {KEYPOINTS_3D: Keypoints("h36m17", p, conf)},
                  {BOX: xyxy}, {"model": "css"})
    meta = {"css": {"weights": Path(weights).name, "keypoints3d_frame": FRAME_NOTE, "box": f"{BOX}: (T, 4) "
                    "x0 y0 x1 y1 pixels, the unsupervised detector's crop", "variant": card["config"]["variant"]}}
    return Poses([track], info.fps, info.width, info.height, info.frames, str(video), {}, meta)
