"""``estimate``: per track, COCO-17 2D keypoints -> a lifter (the TCN by default, or SPS-Net over sliding
windows) -> H36M-17 3D joints, then the same joints in an upright world frame.

Output per track: ``keypoints3d`` (H36M-17, metres, camera frame: x right, y down, z forward) = the network's
root-relative joints (one body per track, limbs pulled towards their keypoints) placed at an estimated root;
``root`` (T, 3); ``camera_weak`` (T, 3) = the predicted (s, tx, ty); ``keypoints3d_world`` (``world``). The
root is the translation that projects the skeleton onto its keypoints (``root``; the weak-perspective
camera's depth, Z = focal / (s x pixels per normalised unit), where too few joints are seen), steadied over
time (``robust``). The focal length is unknown for most videos; the default assumes a phone's main camera
(26 mm equivalent: 0.72 x the longer image side) and ``--focal`` overrides it. Depth is therefore an
estimate; the root-relative pose does not depend on it. Joint confidence = the lowest 2D confidence of the COCO joints
an H36M joint is built from (joints.convert), so joints the detector did not see are flagged.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .. import joints
from ..errors import PoseCliError
from ..poses import (BLAZEPOSE_WORLD, KEYPOINTS_2D, KEYPOINTS_3D, KEYPOINTS_3D_WORLD, Keypoints, Poses, Track,
                     concat_tracks, split_at)
from ..train.weights import load_weights
from ..weights_registry import shipped_weight
from ..models.sps_lifter import LifterConfig, build_lifter
from .bones import constant_bones
from .fusion import BLEND, blend_detector_3d
from .normalize import normalize_2d
from .perspective import to_camera_axes, view_rotations
from .reproject import pull_to_keypoints
from .robust import steady_root, suppress_2d_outliers
from .scene import scene_verticals
from .root import root_from_correspondences
from .windows import run_lifter
from .world import average_up, floor_offset, floor_up, to_world, world_rotation

PHONE_FOCAL = 26.0 / 36.0  # focal length / longer image side of a 26 mm-equivalent lens
# estimate_poses' default up source: the shipped gravity model (weights_registry "estimate_up"; session 13: a
# small TCN trained with leaning trunks, better tilt on renders and real video than the lifter's own head, while
# the lifter's joints stay those of the model that is best on held-out CMU)
SHIPPED_UP = "shipped"


def lifter_card(path: str | Path) -> dict:
    """The card beside lifter weights, checked to describe a lifter; one clear error otherwise (cheap: call it
    before long work)."""
    import json

    card_path = Path(path).with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        LifterConfig(**card["config"]["model"])
        int(card["config"]["length"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PoseCliError(f"{path} is not lifter weights with their card ({card_path.name}: "
                           f"{type(exc).__name__} {exc})",
                           "give weights written by `posecli train estimate` (the .json card beside them)") from None
    return card


def load_lifter(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    card = lifter_card(path)
    model = build_lifter(LifterConfig(**card["config"]["model"]))
    load_weights(model, path)
    return model.to(device).eval(), card


def resample_times(times: np.ndarray, rate: float) -> np.ndarray:
    """Regular timestamps at ``rate`` covering ``times`` (the model's own frame rate)."""
    n = max(1, int(np.floor((times[-1] - times[0]) * rate + 1e-6)) + 1)
    return times[0] + np.arange(n) / rate


def interp_frames(values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per-channel linear interpolation of (T, ...) ``values`` from times ``src`` to ``dst``."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(dst, src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(dst), *values.shape[1:]).astype(values.dtype)


def lift_track(model: torch.nn.Module, track: Track, length: int, width: int | None, height: int | None,
               focal: float | None = None, device: str = "cpu", model_fps: float | None = None,
               blend: float = 0.0, robust: bool = True, root_mode: str = "joints", refine: bool = True) -> Track:
    """Lift one track. The temporal model learned motion at ``model_fps`` (30 for the shipped weights): a
    60 fps video would show it motion at half speed and half the time span per window, so the normalised
    input is resampled to ``model_fps`` (linear in time), lifted, and the outputs interpolated back to the
    track's own frames. A joint's coordinates are interpolated only between frames that saw it, and its
    confidence is interpolated too, so model frames inside a gap stay missing. ``blend`` > 0: average with
    the detector's own 3D where the track has it (``fusion``); the lifter's own joints stay in
    ``keypoints3d_lifter``. ``robust``: keypoints that jump away from their own path for a frame are
    treated as missed and the root's single-frame spikes removed (``robust``). ``root_mode``: "joints"
    places the root by perspective from the skeleton and its keypoints (``root``), "weak" from the
    weak-perspective camera's scale alone (sessions 1-3). ``refine``: the lifter's joints and up turned
    from its centred view to the camera's axes (``perspective``), averaged over turned copies of the input
    (``TTA_ROLLS``), one body per track (``bones``) and limbs pulled towards their keypoints (``reproject``;
    with the "joints" root); off = the lifter's raw joints with VideoPose3D's flip alone, as it outputs them."""
    out, pts, conf, centre, scale, f_px, principal = _lifter_outputs(
        model, track, length, width, height, focal, device, model_fps, robust, refine)
    w_img, h_img, times = width or 1000, height or 1000, track.times
    # One body per track (lifting.bones): on the training subjects' projections this cut MPJPE by 2.5 mm for
    # the TCN lifter and 0.2 mm for SPS (docs/benchmarks.md).
    rel, cam = (constant_bones(out["joints"]) if refine else out["joints"]), out["camera"]
    root = root_from_weak_camera(cam, centre, scale, w_img, h_img, f_px)
    if root_mode == "joints":
        root = root_from_correspondences(rel, pts, conf, f_px, principal, root)
    seen = (conf > 0).any(-1)
    if seen.any():
        # A frame with no keypoint seen says nothing of where the person is (its camera model still gives a root,
        # hundreds of metres off, which steady_root's speed cap would follow): interpolate it from those that do.
        root = interp_frames(root[seen], times[seen], times)
    if robust:
        root = steady_root(root, times)
    if refine and root_mode == "joints":  # limbs towards their keypoints (lifting.reproject); the pelvis stays
        rel = pull_to_keypoints(rel + root[:, None], pts, conf, f_px, principal, times) - root[:, None]
    lifter_only = rel + root[:, None, :]
    detector_3d = track.keypoints.get(BLAZEPOSE_WORLD)
    if blend > 0 and detector_3d is not None:
        rel = blend_detector_3d(rel, detector_3d.points, detector_3d.confidence, detector_3d.joint_set, blend,
                                times=track.times)
    _, conf3d = joints.convert(pts, conf, "coco17", "h36m17")
    points = rel + root[:, None, :]
    seen = (conf > 0).any(-1)  # frames where the detector saw nothing get no 3D
    points[~seen] = np.nan
    conf3d[~seen] = 0
    points[conf3d <= 0] = np.nan  # the network still guesses them; NaN keeps the schema's promise
    layers = dict(track.keypoints)
    layers[KEYPOINTS_3D] = Keypoints("h36m17", points, conf3d)
    arrays = dict(track.arrays)
    arrays["root"] = root.astype(np.float32)
    arrays["camera_weak"] = cam.astype(np.float32)
    arrays["keypoints3d_all"] = (rel + root[:, None, :]).astype(np.float32)  # every joint, guessed or seen
    if blend > 0 and detector_3d is not None:
        arrays["keypoints3d_lifter"] = lifter_only.astype(np.float32)
    if "up" in out:
        arrays["up_camera"] = out["up"].astype(np.float32)  # per frame; estimate_poses averages them
    return Track(track.id, track.frames, track.times, layers, arrays, dict(track.attrs))


def _lifter_outputs(model: torch.nn.Module, track: Track, length: int, width: int | None, height: int | None,
                    focal: float | None, device: str, model_fps: float | None, robust: bool, refine: bool):
    """The network's outputs for one track at the track's own frames (see :func:`lift_track`), with the 2D
    they came from: (outputs, COCO-17 pixels, confidence, normalisation centre and scale, focal, principal)."""
    kp = track.keypoints[KEYPOINTS_2D]
    pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
    if robust:
        conf = suppress_2d_outliers(pts, conf)
    x, centre, scale = normalize_2d(pts, conf)
    times = track.times
    if model_fps and len(times) > 1 and abs(1.0 / np.median(np.diff(times)) - model_fps) > 0.05 * model_fps:
        grid = resample_times(times, model_fps)
        out = _lift_with_tta(model, _interp_input(x, times, grid), length, device, None if refine else ())
        out = {k: interp_frames(v, grid, times) for k, v in out.items()}
    else:
        out = _lift_with_tta(model, x, length, device, None if refine else ())
    w_img, h_img = width or 1000, height or 1000
    f_px = focal or PHONE_FOCAL * max(w_img, h_img)
    principal = (w_img / 2, h_img / 2)
    if refine:  # the lifter's view (the person centred) -> the camera's axes (lifting.perspective)
        view = view_rotations(centre, principal, f_px, seen=(conf > 0).any(-1))
        out["joints"] = to_camera_axes(out["joints"], view)
        if "up" in out:
            out["up"] = to_camera_axes(out["up"], view)
    return out, pts, conf, centre, scale, f_px, principal


def load_up_model(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Lifter weights used for their up head only (``estimate_poses``' ``up_weights``); one clear error when
    they have none."""
    card = lifter_card(path)
    if not card["config"]["model"].get("up_head"):
        raise PoseCliError(f"{path} has no up head (its card's model config says up_head is off)",
                           "give weights trained by `posecli train estimate` with the up head, or --lifter-up")
    return load_lifter(path, device)


def up_from_model(model: torch.nn.Module, card: dict, track: Track, width: int | None, height: int | None,
                  focal: float | None = None, device: str = "cpu", robust: bool = True) -> np.ndarray:
    """(T, 3) per-frame world up direction in camera axes from a lifter's up head, through the same input
    path and viewing-ray turn as the lifter's own joints (so a separate gravity model and the lifter agree on
    frames, rates and axes)."""
    out = _lifter_outputs(model, track, card["config"]["length"], width, height, focal, device,
                          float(card.get("fps", 30.0)), robust, True)[0]
    return out["up"].astype(np.float32)


def root_from_weak_camera(cam: np.ndarray, centre: np.ndarray, scale: np.ndarray, width: int | None,
                          height: int | None, focal: float | None) -> np.ndarray:
    """(T, 3) root in the camera frame from a weak-perspective camera (s, tx, ty) in normalised 2D units
    (``normalize_2d``'s centre and scale): s x scale pixels per metre at the root's depth gives Z = f / that."""
    w, h = width or 1000, height or 1000
    f = focal or PHONE_FOCAL * max(w, h)
    z = f / np.maximum(cam[:, 0] * scale, 1e-6)
    uv_root = centre + scale[:, None] * cam[:, 1:]
    return np.stack([(uv_root[:, 0] - w / 2) * z / f, (uv_root[:, 1] - h / 2) * z / f, z], axis=1)


def _lift_with_flip(model: torch.nn.Module, x: np.ndarray, length: int, device: str) -> dict[str, np.ndarray]:
    """Test-time flip augmentation (as VideoPose3D): lift the input and its mirror image, mirror the second
    result back and average. Cheap (lifting is a few % of the pipeline) and it cancels part of the model's
    left/right asymmetry."""
    out = run_lifter(model, x, length, device=device)
    xf = x[:, joints.COCO17.flip_permutation] * np.array([-1.0, 1.0, 1.0], dtype=x.dtype)
    flipped = run_lifter(model, xf, length, device=device)
    mirror_x = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    back = flipped["joints"][:, joints.H36M17.flip_permutation] * mirror_x
    cam_back = flipped["camera"] * np.array([1.0, -1.0, 1.0], dtype=np.float32)
    res = {"joints": (out["joints"] + back) / 2, "camera": (out["camera"] + cam_back) / 2}
    if "up" in out:  # the mirror image of the scene has its up mirrored too
        up = out["up"] + flipped["up"] * mirror_x
        res["up"] = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    return res


# Test-time roll augmentation (degrees): the input also turned in the image plane by these angles, lifted with
# the flip, and its joints and up turned back before averaging. Rolling the camera about its optical axis turns
# the person-centred input and the 3D alike (x, y about z), and the lifters are trained with rolls of +-30
# degrees, so each turned copy is a fair second opinion. () keeps the flip alone. Chosen on training subjects
# (docs/benchmarks.md, session 15).
TTA_ROLLS: tuple[float, ...] = (-10.0, 10.0)


def _lift_with_tta(model: torch.nn.Module, x: np.ndarray, length: int, device: str,
                   rolls: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
    """:func:`_lift_with_flip`, averaged over the input as it is and turned by each of ``rolls`` (default
    ``TTA_ROLLS``). A turned input is normalised again as ``normalize_2d`` does (the box's larger half-side is 1;
    turning changes the box); the camera (s, tx, ty) comes from the input as it is, whose scale it refers to."""
    res = _lift_with_flip(model, x, length, device)
    rolls = TTA_ROLLS if rolls is None else rolls
    if not rolls:
        return res
    seen = x[..., 2] > 0
    sums = {k: res[k].astype(np.float64) for k in ("joints", "up") if k in res}
    for deg in rolls:
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        turn = np.array([[c, -s], [s, c]], dtype=np.float32)
        xy = x[..., :2] @ turn.T
        lo = np.where(seen[..., None], xy, np.inf).min(axis=1)
        hi = np.where(seen[..., None], xy, -np.inf).max(axis=1)
        half = np.nan_to_num((hi - lo).max(axis=-1) / 2, posinf=0.0, neginf=0.0)
        xy = xy / np.where(half > 1e-6, half, 1.0)[:, None, None]
        turned = np.concatenate([np.where(seen[..., None], xy, 0.0), x[..., 2:]], -1).astype(x.dtype)
        got = _lift_with_flip(model, turned, length, device)
        back = np.eye(3, dtype=np.float32)
        back[:2, :2] = turn.T  # the output turned back: x, y about the optical axis
        for k in sums:
            sums[k] += got[k] @ back.T
    n = 1 + len(rolls)
    res["joints"] = (sums["joints"] / n).astype(np.float32)
    if "up" in sums:
        up = sums["up"]
        res["up"] = (up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)).astype(np.float32)
    return res


def _interp_input(x: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Resample (T, 17, 3) model input; each joint's coordinates only between frames where it was seen."""
    out = np.zeros((len(dst), *x.shape[1:]), dtype=np.float32)
    for j in range(x.shape[1]):
        seen = x[:, j, 2] > 0
        if seen.sum() == 0:
            continue
        for d in range(2):
            out[:, j, d] = np.interp(dst, src[seen], x[seen, j, d])
        out[:, j, 2] = np.interp(dst, src, x[:, j, 2])
    out[out[..., 2] <= 0] = 0.0
    return out


def add_world_frame(tracks: list[Track], scene=None) -> dict | None:
    """Write ``keypoints3d_world`` (Y up, floor y = 0; ``world``) into every track, in place, from the up
    direction all tracks' frames agree on (one static camera), refined by the floor under their feet
    (``world.floor_up``), and replaced by the scene's vertical lines where ``scene`` (``lifting.scene``) finds
    a clear set of them near that direction. Returns the frame's description for the file's meta, or None
    when the lifter has no up head."""
    ups = [t.arrays["up_camera"] for t in tracks if "up_camera" in t.arrays]
    weights = [t.keypoints[KEYPOINTS_3D].confidence.sum(-1) for t in tracks if "up_camera" in t.arrays]
    head = average_up(ups, weights) if ups else None
    if head is None:
        return None
    up = body = floor_up([(t.arrays["keypoints3d_all"], t.keypoints[KEYPOINTS_3D].confidence) for t in tracks
                          if "up_camera" in t.arrays], head)
    lines, found = scene(body) if scene is not None else (None, None)
    if lines is not None:
        up = lines
    rot = world_rotation(up)
    floors = {}
    for t in tracks:
        levelled = to_world(t.arrays["keypoints3d_all"], rot, 0.0)
        floor = floor_offset(levelled)
        floor = 0.0 if not np.isfinite(floor) else floor
        floors[t.id] = round(floor, 4)
        levelled[..., 1] -= floor
        kp = t.keypoints[KEYPOINTS_3D]
        t.keypoints[KEYPOINTS_3D_WORLD] = Keypoints("h36m17", np.where(np.isfinite(kp.points), levelled, np.nan),
                                                    kp.confidence.copy())
        t.arrays["keypoints3d_world_all"] = levelled
    return {"up_camera": [round(float(v), 5) for v in up], "up_head": [round(float(v), 5) for v in head],
            "up_body": [round(float(v), 5) for v in body],
            "up_source": "scene verticals" if lines is not None else "body",
            **({"verticals": found} if found is not None else {}),
            "rotation": np.round(rot, 6).tolist(),
            "axes": "x right (horizontal), y up, z towards the camera; metres; floor y = 0 per track",
            "floor_below_camera_m": {str(k): -v for k, v in floors.items()}}


def estimate_poses(poses: Poses, weights: str | Path, focal: float | None = None, device: str = "cpu",
                   advance=lambda n=1: None, blend: float = BLEND, robust: bool = True,
                   root_mode: str = "joints", up_weights: str | Path | None = SHIPPED_UP,
                   verticals: bool = True) -> Poses:
    """Lift every track; ``blend``: weight of the detector's own 3D where tracks have it (0 = lifter only).
    ``up_weights``: a second lifter whose up head gives the world's up direction (a gravity model trained
    for it, with leaning trunks) instead of the lifter's own head; its joints are not used. Default: the
    weights folder's ``estimate_up`` when there is one; None: the lifter's own up head."""
    if up_weights == SHIPPED_UP:
        up_weights = shipped_weight("estimate_up")
    if poses.tracks and not any(KEYPOINTS_2D in t.keypoints for t in poses.tracks):
        raise PoseCliError("the pose file has no 2D keypoints ('keypoints2d') to lift",
                           "give a video or a file written by `posecli track`")
    model, card = load_lifter(weights, device)
    gravity = load_up_model(up_weights, device) if up_weights else None
    length = card["config"]["length"]
    model_fps = float(card.get("fps", 30.0))  # the shipped weights learned from mocap resampled to 30 fps
    # A track that goes on across a shot cut (`track` keeps an ID there when the looks match) is seen by another
    # camera on each side: the lifter's windows, the root's path, the body's bones and the world frame (up, floor)
    # are found shot by shot.
    cuts = sorted(poses.meta.get("shot_cuts") or [])
    parts_of = []  # per track, its lifted pieces: one per shot it is seen in
    with torch.inference_mode():
        for t in poses.tracks:
            if KEYPOINTS_2D not in t.keypoints:
                continue
            parts = []
            for piece in split_at(t, cuts):
                lifted = lift_track(model, piece, length, poses.width, poses.height, focal, device, model_fps, blend,
                                    robust, root_mode)
                if gravity is not None:
                    lifted.arrays["up_camera"] = up_from_model(*gravity, piece, poses.width, poses.height, focal,
                                                               device, robust)
                parts.append(lifted)
            parts_of.append(parts)
            advance(len(t))
    f_px = focal or PHONE_FOCAL * max(poses.width or 1000, poses.height or 1000)
    bounds = [-np.inf, *cuts, np.inf]
    worlds = []
    for lo, hi in zip(bounds, bounds[1:]):
        pieces = [p for parts in parts_of for p in parts if lo <= p.frames[0] < hi]
        if not pieces:
            continue
        scene = scene_verticals(replace(poses, tracks=pieces), f_px) if verticals else None
        world = add_world_frame(pieces, scene)
        if world is not None:
            world["up_model"] = Path(up_weights).name if gravity is not None else Path(weights).name
            if verticals and scene is None:  # say why the scene's lines were not looked at
                world["verticals"] = {"skipped": f"no frames to look at: the source {poses.source!r} is not a "
                                                 "video readable from here"}
            if cuts:
                world["first_frame"] = int(min(p.frames[0] for p in pieces))
                world["last_frame"] = int(max(p.frames[-1] for p in pieces))
        worlds.append(world)
    if any(w is None for w in worlds):  # no up head: no world frame in any shot
        for p in (p for parts in parts_of for p in parts):
            p.keypoints.pop(KEYPOINTS_3D_WORLD, None)
            p.arrays.pop("keypoints3d_world_all", None)
        worlds = []
    tracks = [concat_tracks(parts) for parts in parts_of]
    meta = dict(poses.meta)
    meta.update({"command": "estimate", "model": Path(weights).name, "model_sha256": card["sha256"],
                 "focal_px": f_px,
                 "window": length, "model_fps": model_fps,
                 "blend_detector_3d": blend if any(BLAZEPOSE_WORLD in t.keypoints for t in poses.tracks) else 0.0,
                 "robust": robust, "root": root_mode})
    if len(worlds) == 1 and not cuts:
        meta["world"] = worlds[0]
    elif worlds:
        # one upright frame per shot (its camera): keypoints3d_world follows it frame by frame, and exports
        # (formats.axes.y_up) pick the shot of each frame
        meta["world"] = {"shots": worlds, "axes": worlds[0]["axes"]}
    return Poses(tracks, poses.fps, poses.width, poses.height, poses.num_frames, poses.source, dict(poses.camera), meta)
