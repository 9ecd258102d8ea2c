"""``estimate --model mcss`` / ``embed --model mcss``: person crops from the tracks' keypoints -> MCSS's canonical
3D pose and 128-d embedding per frame.

Crops are framed exactly as in training (``images.sources``: a square around the COCO keypoints seen with
confidence > 0.3, 1.4 x their extent); a frame with fewer than 8 such keypoints gets no crop (NaN pose).

Output per track: ``keypoints3d`` (H36M-17, metres) holds the **canonical** pose: pelvis at the origin, Y up,
pelvis -> left hip along +X - MCSS does not predict the rotation back to the camera (the paper's design), so
heading and root position are not in it; 'neck_nose', which MCSS does not predict (16 joints), is midway
between thorax and head. ``keypoints3d_world`` is the same pose standing on y = 0 (the lower ankle on the
floor), so exports and side views show it upright. Arrays: ``embedding_mcss`` (T, 128) unit vectors (NaN
without a crop). The meta's ``mcss`` entry says all this.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import joints
from ..console import progress
from ..images.crops import crop, square_from_points
from ..images.sources import MIN_KEYPOINTS
from ..models.mcss import McssConfig, McssNet
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, KEYPOINTS_3D_WORLD, Keypoints, Poses, Track
from ..train.weights import load_carded
from .canonical import canonical

EMBEDDING = "embedding_mcss"
CONFIDENT = 0.3
FRAME_NOTE = ("canonical (MCSS): pelvis at the origin, Y up, pelvis->left hip along +X; no heading or root "
              "position; metres")


def load_mcss(path: str | Path, device: str = "cpu") -> tuple[McssNet, dict]:
    return load_carded(path, "McssNet", "MCSS", "posecli train mcss",
                       lambda card: McssNet(McssConfig(**card["config"]["model"])), device)


def track_squares(track: Track) -> np.ndarray:
    """(T, 3) crop squares from the track's COCO keypoints (NaN where too few were seen)."""
    kp = track.keypoints[KEYPOINTS_2D]
    out = np.full((len(track.frames), 3), np.nan)
    conf = kp.confidence if kp.confidence is not None else np.ones(kp.points.shape[:2], np.float32)
    for t in range(len(track.frames)):
        seen = conf[t] > CONFIDENT
        if seen.sum() >= MIN_KEYPOINTS:
            sq = square_from_points(np.where(seen[:, None], kp.points[t, :, :2], np.nan))
            if sq is not None:
                out[t] = sq
    return out


@torch.no_grad()
def mcss_poses(poses: Poses, video: str | Path, weights: str | Path, device: str = "cpu", crop_size: int = 112,
               batch: int = 64) -> Poses:
    from ..mcss.sampling import to_input
    from ..video import read_frames

    model, card = load_mcss(weights, device)
    crop_size = int(card.get("crop_size", crop_size))
    squares = {t.id: track_squares(t) for t in poses.tracks}
    rows = {t.id: {int(f): i for i, f in enumerate(t.frames)} for t in poses.tracks}
    pose16 = {t.id: np.full((len(t.frames), 16, 3), np.nan, np.float32) for t in poses.tracks}
    emb = {t.id: np.full((len(t.frames), model.cfg.dim), np.nan, np.float32) for t in poses.tracks}
    wanted = sorted({int(f) for t in poses.tracks for f in t.frames})
    pending: list[tuple[int, int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        x = to_input(torch.as_tensor(np.stack([c for _, _, c in pending])).to(device), model.cfg.input_size)
        phi, z = model(x)
        # the head regresses the canonical pose; canonicalising it again makes the pelvis exactly 0 and the
        # left hip exactly on +X (the raw output is off by millimetres), so files obey the documented frame
        p = canonical(model.to_metres(z).cpu().numpy())
        for k, (tid, r, _) in enumerate(pending):
            pose16[tid][r], emb[tid][r] = p[k], phi[k].cpu().numpy()
        pending.clear()

    if wanted:
        with progress("mcss", len(wanted)) as advance:
            for frame in read_frames(video, start=wanted[0], end=wanted[-1] + 1):
                if not any(frame.index in r for r in rows.values()):
                    continue
                for t in poses.tracks:
                    r = rows[t.id].get(frame.index)
                    if r is None or not np.isfinite(squares[t.id][r]).all():
                        continue
                    pending.append((t.id, r, crop(frame.image, squares[t.id][r], crop_size)))
                    if len(pending) >= batch:
                        flush()
                advance()
        flush()
    tracks = []
    for t in poses.tracks:
        p17, c17 = joints.convert(pose16[t.id], np.isfinite(pose16[t.id]).all(-1).astype(np.float32),
                                  "h36m16", "h36m17")
        world = p17.copy()
        ankles = p17[:, [joints.get("h36m17").index(n) for n in ("left_ankle", "right_ankle")], 1]
        world[..., 1] -= np.where(np.isfinite(ankles), ankles, np.inf).min(1, initial=np.inf)[:, None]
        layers = dict(t.keypoints)
        layers[KEYPOINTS_3D] = Keypoints("h36m17", p17, c17)
        layers[KEYPOINTS_3D_WORLD] = Keypoints("h36m17", world, c17)
        tracks.append(Track(t.id, t.frames, t.times, layers, {**t.arrays, EMBEDDING: emb[t.id]}, dict(t.attrs)))
    meta = {**poses.meta, "mcss": {"weights": Path(weights).name, "keypoints3d_frame": FRAME_NOTE,
                                   "embedding": f"{EMBEDDING}: (T, {model.cfg.dim}) unit vectors, L2 distance"}}
    return Poses(tracks, poses.fps, poses.width, poses.height, poses.num_frames, poses.source, poses.camera, meta)
