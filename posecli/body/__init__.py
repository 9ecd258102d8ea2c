"""Body models fitted to the estimated 3D joints: Anny (open, the default) or SMPL (the user's licensed file).

``fit_poses`` adds to every track, in the camera frame of ``keypoints3d`` (x right, y down, z forward, metres):
``body_pose`` (T, P) (the model's compact pose, ``meta["body"]["pose"]`` names the values), ``body_shape``
(T, S) (one shape per person, repeated per frame), ``body_global_orient`` (T, 3) axis-angle and ``body_transl``
(T, 3) with ``camera = R(global_orient) @ model + transl``, ``body_joints`` (T, 17, 3) (H36M-17 of the fitted
body), ``body_error`` (T,) (mean distance to the detected 3D joints, metres) and, on request,
``body_vertices`` (T, V, 3). ``meta["body"]`` describes the fit (``model``, ``model_path``, ...): the one
place readers (``render --mesh``, ``export --to glb/obj``) learn which model to rebuild (:func:`body_model_of`).

``body_faces`` and ``body_vertices`` give any reader the mesh of a stored fit (vertices recomputed from the
parameters when they were not stored).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..console import note, progress, warn
from ..errors import InputError, PoseCliError
from ..poses import KEYPOINTS_3D, Poses
from .fit import BodyFit, FitOptions, fit_track, place

MODELS = ("anny", "smpl")
PARAMETERS = ("body_pose", "body_shape", "body_global_orient", "body_transl")

__all__ = ["MODELS", "BodyFit", "FitOptions", "body_faces", "body_vertices", "fit_poses", "fit_track",
           "load_body"]


def load_body(model_name: str, model_path: str | Path | None = None, device: str = "cpu"):
    """The body model object the fitter drives, on ``device`` (cached: loading twice costs nothing)."""
    return _load_body(model_name, model_path).to(device)


def _load_body(model_name: str, model_path: str | Path | None):
    if model_name == "anny":
        from .anny_model import anny_body

        return anny_body()
    if model_name == "smpl":
        if model_path is None:
            raise InputError("SMPL needs the model file", "pass --body-model path/to/SMPL_NEUTRAL.pkl "
                             "(licensed: download it from smpl.is.tue.mpg.de), or use --body anny")
        from .smpl_model import smpl_body

        return smpl_body(str(Path(model_path).resolve()))
    raise PoseCliError(f"unknown body model {model_name!r}", f"choose one of: {', '.join(MODELS)}")


def fit_poses(poses: Poses, model_name: str, model_path: str | Path | None = None, vertices: bool = False,
              options: FitOptions | None = None, device: str = "cpu") -> Poses:
    """Fit the body to every track's 3D joints (``keypoints3d``) on ``device``; returns ``poses`` with the body
    arrays."""
    import torch

    body = load_body(model_name, model_path, device)
    missing = [t.id for t in poses.tracks if KEYPOINTS_3D not in t.keypoints]
    if missing:
        raise InputError(f"tracks {missing} have no 3D joints to fit a body to",
                         "run posecli estimate first (it lifts 2D keypoints to 3D)")
    errors, seconds, frames = [], 0.0, 0
    with progress(f"body fit ({model_name})", sum(len(t) for t in poses.tracks)) as advance:
        for track in poses.tracks:
            if not len(track):
                continue
            kp = track.keypoints[KEYPOINTS_3D]
            target = track.arrays.get("keypoints3d_all", kp.points)
            fit = fit_track(body, target, kp.confidence, track.frames, poses.fps, options,
                            seen=kp.confidence > 0)
            track.arrays.update(fit.arrays())
            if vertices:
                with torch.no_grad():
                    track.arrays["body_vertices"] = _vertices(body, fit.pose, fit.shape, fit.global_orient,
                                                              fit.transl)
            errors.append(fit.joint_error[np.isfinite(fit.joint_error)])
            _warn_bad_frames(track, fit.joint_error)
            seconds += fit.seconds
            frames += len(track)
            advance(len(track))
    all_errors = np.concatenate(errors) if errors else np.zeros(0)
    poses.meta["body"] = {
        "model": model_name,
        "model_path": None if model_path is None else str(Path(model_path).resolve()),
        "joint_set": "h36m17",
        "pose": body.layout.names,
        "shape": list(body.shape_labels),
        "placement": "camera = R(body_global_orient) @ model(body_pose, body_shape) + body_transl",
        "vertices_stored": bool(vertices),
        "mean_error_mm": round(float(all_errors.mean()) * 1000, 1) if all_errors.size else None,
        "fit_fps": round(frames / seconds, 1) if seconds else None,
    }
    if frames:
        note(f"body fit ({model_name}): {frames} frames at {frames / seconds:.1f} frames/s; fitted joints are "
             f"{poses.meta['body']['mean_error_mm']} mm from the detected 3D joints on average")
    return poses


BAD_FIT_M = 0.1  # a frame whose fitted joints are on average this far from the 3D joints is not the person


def _warn_bad_frames(track, joint_error: np.ndarray) -> None:
    """One warning per track naming the frames the body could not follow (a mean alone hides them)."""
    with np.errstate(invalid="ignore"):
        per_frame = np.nanmean(np.where(np.isfinite(joint_error), joint_error, np.nan), axis=-1)
    bad = np.flatnonzero(per_frame > BAD_FIT_M)
    if not bad.size:
        return
    frames = track.frames[bad]
    worst = int(np.nanargmax(per_frame))
    listed = ", ".join(str(int(f)) for f in frames[:8]) + (", ..." if len(frames) > 8 else "")
    warn(f"body fit of track {track.id}: {len(bad)} of {len(track)} frames are more than "
         f"{BAD_FIT_M * 1000:.0f} mm from its 3D joints (worst {1000 * per_frame[worst]:.0f} mm at frame "
         f"{int(track.frames[worst])}; frames {listed}): check them before using the body")


def _vertices(body, pose, shape, global_orient, transl) -> np.ndarray:
    import torch

    def as_t(values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, np.float32), device=body.device)

    with torch.no_grad():
        verts = body.vertices(as_t(pose), as_t(shape))
        return place(verts, as_t(global_orient), as_t(transl)).cpu().numpy().astype(np.float32)


NO_BODY_FIX = "run posecli estimate VIDEO -o poses.npz --body anny first"


def body_model_of(meta: dict) -> tuple[str, str | None]:
    """(model name, model file or None) of the body fitted in a pose file, from ``meta["body"]``."""
    info = meta.get("body") or {}
    name = info.get("model") if isinstance(info, dict) else None
    if not name:
        raise InputError("the pose file has no fitted body (no 'body' in its metadata)", NO_BODY_FIX)
    return name, info.get("model_path")


def body_faces(model_name: str, model_path: str | Path | None = None) -> np.ndarray:
    """(F, 3) int64 triangles of the model's mesh."""
    return np.asarray(load_body(model_name, model_path).faces, dtype=np.int64)


def body_vertices(arrays: dict[str, np.ndarray], meta: dict, device: str = "cpu") -> np.ndarray:
    """(T, V, 3) float32 camera-frame vertices of a track's fitted body (``track.arrays``, or any slice of its
    frames), from ``body_vertices`` when stored, else recomputed from the stored parameters on ``device``."""
    if "body_vertices" in arrays:
        return np.asarray(arrays["body_vertices"], dtype=np.float32)
    missing = [k for k in PARAMETERS if k not in arrays]
    if missing:
        raise InputError(f"the track has no fitted body (missing {', '.join(missing)})",
                         NO_BODY_FIX)
    name, path = body_model_of(meta)
    if name == "smpl" and path and not Path(path).is_file():
        raise InputError("the SMPL model file this body was fitted with is gone", "put it back at that path",
                         path)
    body = load_body(name, path, device)
    shape = np.asarray(arrays["body_shape"])
    if not len(shape):
        return np.zeros((0, body.num_vertices, 3), np.float32)
    return _vertices(body, arrays["body_pose"], shape[0], arrays["body_global_orient"], arrays["body_transl"])
