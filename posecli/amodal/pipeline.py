"""``complete``: per track, COCO-17 2D + confidence -> the amodal model over overlapping 90-frame windows ->
a deterministic 3D motion and K hypotheses that differ only where the camera does not see the person.

- Hidden joints: confidence below ``HIDDEN_CONF`` (a detector's guess at a joint it cannot see, e.g.
  ``realistic_2d``'s hidden joints at 0.3 x), missing, or outside the image. They enter the model zeroed with
  visibility 0, in training exactly as here. An H36M joint is hidden when any COCO joint it is built from is.
- Frame rate: the input is resampled to 30 fps (``lifting.pipeline``'s helpers) and outputs interpolated back.
- Windows: ``lifting.windows.run_windows`` (stride T/2, triangular blend). Hypothesis k of one window is
  blended with hypothesis k of the next, each window drawing its own r_a, from one seeded generator, so a
  seed reproduces the output exactly.
- Visible joints: the hypotheses take the deterministic output's visible joints (the paper's learned
  property made exact); a bone between a visible and a hidden joint can then stretch a little. The raw MD
  output is kept for evaluation (``raw=True``), where the diversity of visible joints measures what was learned.
- Camera frame: canonical poses are turned into camera axes by the model's view head and placed where
  ``estimate`` places the same person, with the size ``estimate``'s lifter gives them (its root and its limb
  segments' sum, ``lifting.bones.body_size``; the lifter runs on the same track, about 1 % of the work), so
  one person gets one size and one distance from both commands. Without a lifter: the canonical skeleton,
  placed where the visible joints' pixels put it by perspective (``lifting.root.root_from_correspondences``),
  the weak-perspective camera's root where fewer than 4 limb joints are seen. (The canonical skeleton at the
  weak camera's root put people 4-28 % deeper than ``estimate`` on the shared videos: ``bench/complete_root.py``.)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .. import joints
from ..errors import PoseCliError
from ..lifting.bones import body_size
from ..lifting.normalize import normalize_2d
from ..lifting.pipeline import (PHONE_FOCAL, _interp_input, interp_frames, lift_track, load_lifter, resample_times,
                                root_from_weak_camera)
from ..lifting.root import root_from_correspondences
from ..lifting.windows import run_windows
from ..models.amodal import AmodalConfig, AmodalNet
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track, concat_tracks, split_at
from ..train.weights import load_weights
from .bridge import bridge
from .matching import matched_hypotheses
from .runs import occluded

HIDDEN_CONF = 0.5
CLIP_LENGTH = 90  # T, 3 s at 30 fps (paper)
MODEL_FPS = 30.0
COMPLETED_CONF = 0.25  # confidence written for joints the model completed (hidden in the input)


def visible_joints(points: np.ndarray, conf: np.ndarray, width: int | None = None, height: int | None = None,
                   threshold: float = HIDDEN_CONF) -> np.ndarray:
    """(T, 17) bool: confident, finite and (when the image size is known) inside the image."""
    vis = (np.nan_to_num(conf) >= threshold) & np.isfinite(points).all(-1)
    if width and height:
        p = np.nan_to_num(points)
        vis &= (p[..., 0] >= 0) & (p[..., 0] <= width) & (p[..., 1] >= 0) & (p[..., 1] <= height)
    return vis


def model_input(points: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COCO-17 pixels (T, 17, 2) + visibility -> ((T, 17, 3) x, y, visible; centre; scale)."""
    x, centre, scale = normalize_2d(points, visible.astype(np.float32))
    x[..., 2] = (x[..., 2] > 0).astype(np.float32)
    return x, centre, scale


def hidden_h36m(visible_coco: np.ndarray) -> np.ndarray:
    """(T, 17) COCO-17 visibility -> (T, 17) H36M-17 hidden mask."""
    dummy = np.zeros((*visible_coco.shape, 2), np.float32)
    return joints.convert(dummy, visible_coco.astype(np.float32), "coco17", "h36m17")[1] <= 0


@torch.no_grad()
def complete_clip(model: AmodalNet, x: np.ndarray, k: int, seed: int = 0, device: str = "cpu",
                  raw: bool = False, anchored: bool = True, bridged: bool = False,
                  matched: bool = False) -> dict[str, np.ndarray]:
    """(T, 17, 3) model input at 30 fps -> e (T, 17, 3), d (T, K, 17, 3) canonical, rotation (T, 3, 3),
    camera (T, 3). The hypotheses keep e's visible joints unless ``raw``; ``anchored``: see AmodalNet.forward.
    ``bridged``: hidden runs joined to the seen frames around them (``amodal.bridge``; a second model pass).
    ``matched``: the hypotheses of occluded runs taken from the person's own seen motion (``amodal.matching``)."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()

    def run(xb: torch.Tensor, _mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return model(xb, k, gen, anchored=anchored)

    out = run_windows(run, x, CLIP_LENGTH, keys=("e", "d", "rotation", "camera"), device=device)
    hidden = hidden_h36m(x[..., 2] > 0)
    if bridged:
        second = hidden_everywhere_pass(model, x, device)
        if second is not None:
            out["e"], out["d"] = bridge(out["e"], second[0], out["d"], hidden, second[1])
    if matched:
        out["d"] = matched_hypotheses(out["e"], out["d"], hidden)
    if not raw:
        out["d"] = np.where(hidden[:, None, :, None], out["d"], out["e"][:, None]).astype(np.float32)
    out["rotation"] = _orthonormal(out["rotation"])  # blending windows averages rotations
    return out


@torch.no_grad()
def hidden_everywhere_pass(model: AmodalNet, x: np.ndarray, device: str = "cpu"):
    """The model's completion with every joint that is hidden for ``runs.MIN_RUN`` frames or more in a row
    somewhere (where the person is seen at all) hidden on every frame -> (e_all (T, 17, 3), its H36M hidden mask
    (T, 17)), or None when no joint is."""
    vis = x[..., 2] > 0
    seen = vis.any(-1)  # frames with nobody define no gap
    # Only joints hidden for MIN_RUN frames or more in a row: a detector drops every joint on some frame, and
    # hiding all of those everywhere would leave the second pass nothing to complete from.
    sometimes = occluded(~vis[seen]).any(0) & vis.any(0)
    if not sometimes.any():
        return None
    vis_all = vis & ~sometimes
    x_all = model_input(x[..., :2], vis_all)[0]  # normalising is similarity-equivariant: as from the pixels
    e_all = run_windows(lambda xb, _m: model.encode(xb), x_all, CLIP_LENGTH, keys=("e",), device=device)["e"]
    return e_all, hidden_h36m(vis_all) & seen[:, None]


def _orthonormal(r: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(r)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., -1] *= d[..., None]
    return (u @ vt).astype(np.float32)


def load_amodal(path: str | Path, device: str = "cpu") -> tuple[AmodalNet, dict]:
    card = json.loads(Path(path).with_suffix(".json").read_text()) if Path(path).with_suffix(".json").is_file() else {}
    if card and card.get("model") != "AmodalNet":
        raise PoseCliError(f"{path} holds a {card.get('model')} model, not the amodal one",
                           "pass weights written by `posecli train amodal`")
    model = AmodalNet(AmodalConfig(**card.get("config", {}).get("model", {})))
    load_weights(model, path)
    return model.to(device).eval(), card


def complete_track(model: AmodalNet, track: Track, k: int, seed: int, width: int | None, height: int | None,
                   focal: float | None = None, device: str = "cpu",
                   placed: tuple[np.ndarray, float] | None = None, join_gaps: bool = False,
                   match: bool = True) -> Track:
    """``placed``: where ``estimate`` puts this person ((T, 3) root, camera frame) and how big it sees them
    (``lifting.bones.body_size``, metres); None: the canonical skeleton, placed by its visible joints.
    ``join_gaps``: hidden runs joined to the seen frames around them (``complete_clip``'s ``bridged``); ``match``:
    the hypotheses of occluded runs from the person's own seen motion (``complete_clip``'s ``matched``)."""
    kp = track.keypoints[KEYPOINTS_2D]
    pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
    vis = visible_joints(pts, conf, width, height)
    x, centre, scale = model_input(pts, vis)
    times = track.times
    if len(times) > 1 and abs(1.0 / np.median(np.diff(times)) - MODEL_FPS) > 0.05 * MODEL_FPS:
        grid = resample_times(times, MODEL_FPS)
        out = complete_clip(model, _interp_input(x, times, grid), k, seed, device, bridged=join_gaps,
                            matched=match)
        out = {key: interp_frames(v, grid, times) for key, v in out.items()}
        out["rotation"] = _orthonormal(out["rotation"])
    else:
        out = complete_clip(model, x, k, seed, device, bridged=join_gaps, matched=match)
    hidden = hidden_h36m(vis)
    size = placed[1] / body_size(out["e"]) if placed else 1.0
    to_cam = lambda p: size * np.einsum("tij,t...j->t...i", out["rotation"], p)  # noqa: E731
    if placed:
        root = np.asarray(placed[0], np.float64)
    else:
        w_img, h_img = width or 1000, height or 1000
        f_px = focal or PHONE_FOCAL * max(w_img, h_img)
        root = root_from_weak_camera(out["camera"], centre, scale, width, height, focal)
        root = root_from_correspondences(to_cam(out["e"]), pts, vis.astype(np.float32), f_px,
                                         (w_img / 2, h_img / 2), root)
    det = to_cam(out["e"]) + root[:, None]
    hyps = to_cam(out["d"]) + root[:, None, None]
    seen = vis.any(-1)
    det[~seen] = np.nan  # frames where the detector saw nobody get no 3D
    hyps[~seen] = np.nan
    layers = dict(track.keypoints)
    layers[KEYPOINTS_3D] = Keypoints("h36m17", det.astype(np.float32),
                                     np.where(seen[:, None], np.where(hidden, COMPLETED_CONF, 1.0), 0.0)
                                     .astype(np.float32))
    arrays = dict(track.arrays)
    arrays.update({"hypotheses3d": hyps.astype(np.float32), "hidden": hidden.astype(np.uint8), "root": root,
                   "keypoints3d_canonical": out["e"].astype(np.float32),
                   "view_rotation": out["rotation"].astype(np.float32)})
    return Track(track.id, track.frames, track.times, layers, arrays, dict(track.attrs))


def complete_poses(poses: Poses, weights: str | Path, k: int = 10, seed: int = 0, focal: float | None = None,
                   device: str = "cpu", advance=lambda n=1: None, lifter: str | Path | None = None,
                   join_gaps: bool = False, match: bool = True) -> Poses:
    """``lifter``: ``estimate`` weights whose place and size for each person the completed skeleton takes (see
    the module's text); None: the canonical skeleton, placed by its own visible joints. ``join_gaps``, ``match``:
    see ``complete_track``."""
    if poses.tracks and not any(KEYPOINTS_2D in t.keypoints for t in poses.tracks):  # nobody: empty output
        raise PoseCliError("the pose file has no 2D keypoints ('keypoints2d') to complete",
                           "give a video or a file written by `posecli track`")
    model, card = load_amodal(weights, device)
    sizer = load_lifter(lifter, device) if lifter else None
    tracks = []
    cuts = poses.meta.get("shot_cuts") or []  # a track kept across a shot cut: each shot is another camera
    for t in poses.tracks:
        if KEYPOINTS_2D in t.keypoints:
            parts = []
            for piece in split_at(t, cuts):
                placed = None
                if sizer is not None:
                    with torch.inference_mode():
                        lifted = lift_track(sizer[0], piece, sizer[1]["config"]["length"], poses.width,
                                            poses.height, focal, device, float(sizer[1].get("fps", 30.0)))
                    root = lifted.arrays["root"]
                    placed = (root, body_size(lifted.arrays["keypoints3d_all"] - root[:, None]))
                parts.append(complete_track(model, piece, k, seed + t.id, poses.width, poses.height, focal, device,
                                            placed, join_gaps, match))
            tracks.append(concat_tracks(parts))
            advance(len(t))
    meta = dict(poses.meta)
    meta.update({"command": "complete", "model": Path(weights).name, "model_sha256": card.get("sha256"),
                 "placed_by": Path(lifter).name if lifter else "canonical skeleton",
                 "hypotheses": k, "seed": seed, "join_gaps": join_gaps,
                 "hypotheses_from": "matched" if match else "model",
                 "window": CLIP_LENGTH, "model_fps": MODEL_FPS,
                 "focal_px": focal or PHONE_FOCAL * max(poses.width or 1000, poses.height or 1000)})
    return Poses(tracks, poses.fps, poses.width, poses.height, poses.num_frames, poses.source, dict(poses.camera), meta)
