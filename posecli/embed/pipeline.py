"""``embed``: per track, COCO-17 2D keypoints -> Pr-VIPE Gaussian embedding per frame (mean, standard deviation).

Output arrays per track (beside the input's layers, so that ``retrieve`` and ``align`` can re-embed mirrored
poses from the same file): ``embedding_mu`` and ``embedding_sigma`` (T, d); ``embedding_valid`` (T,) bool;
``embedding_samples`` (T, K, d) on request. A frame is valid when at least :data:`MIN_VISIBLE` of the 13 input
keypoints were seen: with fewer the normalisation has too little to stand on and the embedding is noise, so
its mu/sigma are NaN rather than a confident-looking vector.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import joints
from ..errors import PoseCliError
from ..models.prvipe import PrVIPE, VipeConfig
from ..poses import KEYPOINTS_2D, Poses, Track, split_at
from ..train.weights import load_weights
from . import embed_inputs
from .normalize import NUM_INPUT, mirror_input, model_input, window_indices

MU, SIGMA, VALID, SAMPLES = "embedding_mu", "embedding_sigma", "embedding_valid", "embedding_samples"
MIN_VISIBLE = 6  # of the 13 input keypoints (e.g. one whole side of the body)


def load_vipe(path: str | Path, device: str = "cpu") -> tuple[PrVIPE, dict]:
    card = json.loads(Path(path).with_suffix(".json").read_text())
    model = PrVIPE(VipeConfig(**card["config"]["model"]))
    load_weights(model, path)
    return model.to(device).eval(), card


def track_inputs(track: Track, mirrored: bool = False, config: VipeConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A track's model inputs (T, 39) and validity (T,), from its 2D layer in any joint set with COCO's joints.

    A temporal model (``config.window`` > 1) gets (T, W * 39): each frame's window of frames at the model's rate,
    picked by time (:func:`window_indices`), so a 60 fps clip or one with gaps gives the spacing it was trained
    on. Validity stays the frame's own: an embedding is of that frame's pose.
    """
    if KEYPOINTS_2D not in track.keypoints:
        raise PoseCliError(f"track {track.id} has no 2D keypoints ('keypoints2d') to embed",
                           "give a video or a file written by `posecli track`")
    kp = track.keypoints[KEYPOINTS_2D]
    pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
    x = model_input(pts, conf)
    valid = x[:, 2 * NUM_INPUT:].sum(1) >= MIN_VISIBLE
    if mirrored:
        x = mirror_input(x)
    if config is not None and config.window > 1:
        x = x[window_indices(track.times, config.window, config.window_fps)].reshape(len(x), -1)
    return x, valid


def embed_track(model: PrVIPE, track: Track, mirrored: bool = False, samples: int | None = None, seed: int = 0,
                device: str = "cpu") -> dict[str, np.ndarray]:
    """{"mu", "sigma" (T, d) with NaN on invalid frames, "valid" (T,), "samples" (T, K, d)} for one track."""
    x, valid = track_inputs(track, mirrored, model.config)
    out = embed_inputs(model, x, samples, seed=seed, device=device)
    for key in ("mu", "sigma", "samples"):
        out[key][~valid] = np.nan
    out["valid"] = valid
    return out


def embed_file(poses: Poses, weights: str | Path, samples: int | None = None, seed: int = 0,
               device: str = "cpu", advance=lambda n=1: None) -> Poses:
    """Every track with 2D keypoints, embedded; ``samples`` = K to also store K samples per frame."""
    if poses.tracks and not any(KEYPOINTS_2D in t.keypoints for t in poses.tracks):
        raise PoseCliError("the pose file has no 2D keypoints ('keypoints2d') to embed",
                           "give a video or a file written by `posecli track`")
    model, card = load_vipe(weights, device)
    tracks = []
    cuts = poses.meta.get("shot_cuts") or []  # a temporal model's windows stay within one shot (one camera)
    for t in poses.tracks:
        if KEYPOINTS_2D not in t.keypoints:
            continue
        parts = [embed_track(model, piece, samples=samples, seed=seed + t.id, device=device)
                 for piece in split_at(t, cuts)]
        e = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        arrays = dict(t.arrays) | {MU: e["mu"], SIGMA: e["sigma"], VALID: e["valid"]}
        if samples:
            arrays[SAMPLES] = e["samples"]
        tracks.append(Track(t.id, t.frames, t.times, dict(t.keypoints), arrays, dict(t.attrs)))
        advance(len(t))
    meta = dict(poses.meta) | {"command": "embed", "model": Path(weights).name, "model_sha256": card["sha256"],
                               "embedding_dim": model.config.dim, "min_visible": MIN_VISIBLE}
    return Poses(tracks, poses.fps, poses.width, poses.height, poses.num_frames, poses.source, dict(poses.camera), meta)
