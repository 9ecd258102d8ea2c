"""Human3.6M through VideoPose3D's files, for users who have the dataset (it cannot ship with posecli).

Reading ``data_3d_h36m.npz`` (``positions_3d[subject][action]`` = (N, 32, 3) metres at 50 Hz, world Z up):
VideoPose3D's 17 of the 32 joints are kept (h36m17 order), turned to posecli's Y-up world, put on the floor
and resampled to the target rate. Human3.6M has no face points, so the COCO-17 face is placed with the same
head model as for BVH rigs (``rigs.HEAD_MODEL``), in a head frame made from positions only: up = thorax to
head, left = right to left shoulder, forward = left x up; the head centre (ear line) sits 12 cm below the
H36M 'Head' joint (the crown), and the nose is H36M's own 'Neck/Nose' joint. Gaze is thus assumed to follow the
torso, which a person turning their head breaks; for lifting the error is a few centimetres on the face only.

Writing: the same layouts from any ``MocapDataset`` (CMU included): ``positions_3d[subject][sequence]``
(N, 17, 3) Z-up and, optionally, ``positions_2d[subject][sequence]`` = one (N, 17, 2) COCO-17 array per
virtual camera, with VideoPose3D's ``metadata`` (layout, symmetry). VideoPose3D's own loader expects 32
joints in data_3d files and drops 15 of them; these files already hold the 17 it keeps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import PoseCliError, SchemaError
from ..formats.vp3d import H36M32_TO_17
from .dataset import MocapDataset, Sequence
from .prepare import resample
from .rigs import HEAD_MODEL

H36M_FPS = 50.0
# Z-up (Human3.6M, VideoPose3D) <-> Y-up (posecli): a rotation of -90 degrees about x keeps handedness.
_ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_CROWN_ABOVE_EARS = 0.12


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def coco_from_h36m(h36m: np.ndarray) -> np.ndarray:
    """(N, 17, 3) Y-up H36M-17 -> (N, 17, 3) COCO-17 with face points from the head model (see module doc)."""
    h = joints.get("h36m17")
    idx = {n: h.index(n) for n in h.joints}
    out = np.asarray(joints.convert(h36m, np.ones(h36m.shape[:2]), "h36m17", "coco17")[0], dtype=np.float64)
    up = _unit(h36m[:, idx["head"]] - h36m[:, idx["thorax"]])
    left = _unit(h36m[:, idx["left_shoulder"]] - h36m[:, idx["right_shoulder"]])
    left = _unit(left - (left * up).sum(-1, keepdims=True) * up)
    forward = np.cross(left, up)
    centre = h36m[:, idx["head"]] - _CROWN_ABOVE_EARS * up
    c = joints.COCO17
    for name in ("left_eye", "right_eye", "left_ear", "right_ear"):
        f, u, lft = HEAD_MODEL[name]
        out[:, c.index(name)] = centre + f * forward + u * up + lft * left
    out[:, c.index("nose")] = h36m[:, idx["neck_nose"]]
    return out.astype(np.float32)


def read_h36m_3d(path: str | Path, fps: float = 30.0) -> MocapDataset:
    path = Path(path)
    from ..formats.checks import load_npz

    # VideoPose3D pickles dictionaries: rebuilt by posecli's restricted unpickler (formats.checks), never by
    # pickle.load, so a crafted file cannot run code
    try:
        z = load_npz(path, objects=True)
        pos = z["positions_3d"].item() if isinstance(z["positions_3d"], np.ndarray) else z["positions_3d"]
        # Files written by posecli record their rate; Human3.6M's own are 50 Hz.
        source_fps = float(z["fps"]) if "fps" in z else H36M_FPS
        if not isinstance(pos, dict) or not all(isinstance(v, dict) for v in pos.values()):
            raise TypeError("positions_3d is not a dictionary of subjects and actions")
    except (KeyError, TypeError, ValueError, PoseCliError) as exc:
        raise SchemaError(f"not a VideoPose3D data_3d file ({type(exc).__name__}: {exc})",
                          "give data_3d_h36m.npz from VideoPose3D's prepare_data_h36m.py", path) from None
    seqs = []
    for subject, actions in sorted(pos.items()):
        for action, arr in sorted(actions.items()):
            a = np.asarray(arr, dtype=np.float64)
            if a.ndim != 3 or a.shape[1] not in (17, 32):
                raise SchemaError(f"{subject}/{action}: shape {a.shape}, expected (N, 32 or 17, 3)", path=path)
            h = (a[:, H36M32_TO_17] if a.shape[1] == 32 else a) @ _ZUP_TO_YUP.T
            h = resample(h, source_fps, fps)
            h[..., 1] -= np.percentile(h[..., 1].min(1), 1)
            seqs.append(Sequence(str(subject), str(action), fps,
                                 {"h36m17": h.astype(np.float32), "coco17": coco_from_h36m(h)},
                                 {"source": str(path)}))
    if not seqs:
        raise SchemaError("positions_3d holds no sequences", path=path)
    return MocapDataset(seqs, {"source": f"h36m:{path}", "fps": fps})


def write_vp3d_dataset(dataset: MocapDataset, path_3d: str | Path, path_2d: str | Path | None = None,
                       cameras: int = 4, seed: int = 0) -> None:
    """Write ``data_3d_<name>.npz`` and optionally ``data_2d_<name>_gt.npz`` (exact projections)."""
    from ..synth2d import CameraSampler

    pos3d: dict[str, dict[str, np.ndarray]] = {}
    pos2d: dict[str, dict[str, list[np.ndarray]]] = {}
    sampler, rng = CameraSampler(fit_in_frame=True), np.random.default_rng(seed)
    for s in dataset.sequences:
        h = s.joints["h36m17"].astype(np.float64)
        pos3d.setdefault(s.subject, {})[s.name] = (h @ _ZUP_TO_YUP).astype(np.float32)  # inverse = transpose
        if path_2d is not None:
            views = sampler.sample(rng, h[:, 0].mean(0), cameras, points=s.joints["coco17"])
            pos2d.setdefault(s.subject, {})[s.name] = [v.project(s.joints["coco17"])[0].astype(np.float32)
                                                        for v in views]
    with atomic_path(path_3d) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, positions_3d=pos3d, fps=np.array(dataset.sequences[0].fps if dataset.sequences else 30.0))
    if path_2d is not None:
        left, right = joints.COCO17.symmetry
        meta = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [left, right]}
        with atomic_path(path_2d) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, positions_2d=pos2d, metadata=meta)
