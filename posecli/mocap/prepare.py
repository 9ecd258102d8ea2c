"""BVH folders -> a ``MocapDataset``: H36M-17 and COCO-17 joints in metres, Y up, floor at y = 0, one frame rate.

Per file: parse and map through a rig map (``rigs``), drop a prepended T-pose frame, put the floor at y = 0,
resample to the target rate. Any unreadable or unmappable file stops the run with an ``InputError`` naming it:
a training set that silently lost files is worse than no training set.

Quirks handled in general terms rather than by file name:

* iClone exports of CMU subject 007 (007_03 to 007_12) begin with a T-pose frame 2 m away from the motion;
  ``tpose_first_frame`` finds such a frame by its jump and its horizontal arms, in any file.
* iClone exports keep the hip height (105 cm) in the root OFFSET and only the sway in the root's position
  channels; ``bvh.py`` adds the OFFSET as the BVH format says (readers that drop it put these bodies ~1 m
  low), so nothing is special-cased here, and the per-sequence floor would absorb a constant shift anyway.
* Some exports put a reference root at floor level above the hips (iClone's RL_BoneRoot); the floor is
  taken from the body below the mapped joints only (``rigs.Mapped.body``).

Reported in ``Sequence.attrs``, not repaired: frames where a joint pops or flips (``jump_frames``), the
floor shift, the rig map used, the source rate and frame count.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..console import warn
from ..errors import InputError
from .bvh import read_bvh
from .dataset import JOINT_SETS, MocapDataset, Sequence
from .rigs import RigMap, map_bvh, named_rig_map

FLOOR_PERCENTILE = 1.0  # of the per-frame lowest rig joint: not the minimum, which one glitch frame decides
# Median bone lengths (metres, H36M-17) a person can have, from a small child to a very tall adult, with
# margin: a file outside them was read with the wrong units or position-channel convention, or mapped wrong.
BONE_RANGES = {
    "thigh": (("hip", "knee"), (0.18, 0.62)), "shin": (("knee", "ankle"), (0.18, 0.62)),
    "upper arm": (("shoulder", "elbow"), (0.12, 0.45)), "forearm": (("elbow", "wrist"), (0.10, 0.40)),
}


def prepare(mocap_dir: str | Path, fps: float = 30.0, rig: RigMap | str | Path | None = None,
            progress: Callable[[int, int, Path], None] | None = None) -> MocapDataset:
    """Every ``*.bvh`` under ``mocap_dir`` (recursively) as one sequence at ``fps``.

    ``rig``: a map, a built-in map's name or a rig-map JSON path for all files; None picks one per file.
    ``progress(done, total, path)`` is called after each file.
    """
    root = Path(mocap_dir)
    if not root.is_dir():
        raise InputError("mocap folder does not exist or is not a folder", "give the folder holding the .bvh files",
                         root)
    if fps <= 0:
        raise InputError(f"target frame rate must be positive, got {fps}", "e.g. --fps 30")
    files = find_bvh_files(root)
    if not files:
        raise InputError("no .bvh files found (searched recursively)", "point at the folder holding them", root)
    if rig is not None and not isinstance(rig, RigMap):
        rig = named_rig_map(rig)  # read a user's file once, not per BVH
    descriptions = read_descriptions(root)
    sequences: list[Sequence] = []
    seen: set[tuple[str, str]] = set()
    for k, path in enumerate(files):
        subject = subject_of(path, root)
        seq = prepare_file(path, fps, rig, subject)
        if (seq.subject, seq.name) in seen:  # same file name in two folders: keep both, named by their path
            seq.name = "__".join(path.relative_to(root).with_suffix("").parts)
        seen.add((seq.subject, seq.name))
        seq.attrs["source"] = str(path.relative_to(root))
        description = descriptions.get(_trial_key(subject, path.stem))
        if description:
            seq.attrs["description"] = description
        sequences.append(seq)
        if progress is not None:
            progress(k + 1, len(files), path)
    return MocapDataset(sequences, {"source": str(root), "fps": float(fps), "units": "m", "up": "y",
                                    "floor": f"y = 0 at percentile {FLOOR_PERCENTILE:g} of the lowest rig joint"})


def prepare_file(path: str | Path, fps: float = 30.0, rig: RigMap | str | Path | None = None,
                 subject: str | None = None) -> Sequence:
    """One BVH as a ``Sequence`` at ``fps`` (subject defaults to the file-name prefix before ``_``)."""
    path = Path(path)
    bvh = read_bvh(path)
    mapped = map_bvh(bvh, rig)
    src_fps = nominal_fps(bvh.frame_time)
    keep = slice(1, None) if tpose_first_frame(mapped.joints["h36m17"]) else slice(None)
    rig_points = mapped.body[keep]
    if len(rig_points) < 2:
        raise InputError(f"only {len(rig_points)} frame(s) of motion", "a sequence needs at least two frames", path)
    floor = floor_height(rig_points)
    jumps = jump_frames(mapped.joints["h36m17"][keep], src_fps)
    arrays = {}
    for js in JOINT_SETS:
        pts = mapped.joints[js][keep].copy()
        pts[..., 1] -= floor
        arrays[js] = resample(pts, src_fps, fps).astype(np.float32)
    bad = implausible_bones(mapped.joints["h36m17"][keep])
    if bad:
        warn(f"{path.name}: bones of a length no person has after mapping ({'; '.join(bad)}; units "
             f"{mapped.units_name} from {mapped.units_from}, position channels: {bvh.position_convention}): check "
             "the file, or give units and joints in a rig map with --rig-map FILE")
    attrs: dict[str, Any] = {
        "rig": mapped.rig_name, "units_m": mapped.units, "units": mapped.units_name, "units_from": mapped.units_from,
        "position_channels": bvh.position_convention, "implausible_bones": bad, "up": mapped.up, "source_fps": src_fps,
        "source_frames": bvh.n_frames, "dropped_tpose_frame": keep.start == 1, "floor_shift_m": round(-floor, 5),
        "jump_frames": jumps,  # reported, not repaired: whether to cut or drop such takes is the trainer's call
    }
    return Sequence(subject or path.stem.split("_")[0], path.stem, float(fps), arrays, attrs)


def implausible_bones(h36m: np.ndarray) -> list[str]:
    """'left thigh 0.78 m (expected 0.18-0.62)' for each bone whose median length no person has."""
    names = joints.get("h36m17").joints
    out = []
    for bone, ((a, b), (low, high)) in BONE_RANGES.items():
        for side in ("left", "right"):
            length = float(np.median(np.linalg.norm(h36m[:, names.index(f"{side}_{a}")]
                                                    - h36m[:, names.index(f"{side}_{b}")], axis=-1)))
            if not low <= length <= high:
                out.append(f"{side} {bone} {length:.2f} m (expected {low:.2f}-{high:.2f})")
    return out


def find_bvh_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())


def subject_of(path: Path, root: Path) -> str:
    """The subject: the file's folder when the file name starts with it (CMU's ``007/007_03.bvh``) or the
    folder is a number, else the file-name prefix before ``_`` (``cmu_131/131_01.bvh`` -> ``131``), else the
    folder (or the file's own name for a file directly in ``root``)."""
    folder = path.parent.name if path.parent != root else ""
    prefix = path.stem.split("_")[0] if "_" in path.stem else ""
    if folder and (folder.isdigit() or (prefix and prefix == folder)):
        return folder
    return prefix or folder or path.stem


def nominal_fps(frame_time: float) -> float:
    """1 / frame_time, snapped to a whole rate when within 0.1 %: writers print 0.016667 for 1/60 s, and the
    residue would otherwise shift every resampled frame by a drifting fraction."""
    fps = 1.0 / frame_time
    return float(round(fps)) if abs(fps - round(fps)) < 1e-3 * fps else fps


def resample(points: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(N, ...) samples at ``src_fps`` -> samples at ``dst_fps`` over the same span, by linear interpolation in
    time (frame i of the output is at i / dst_fps s; the last lies at or before the last input frame).

    Positions, not joint rotations, are interpolated: the stored data are positions, and between frames 1/60 s
    apart a limb turns a few degrees at most, so the straight-line midpoint shortens it by < 0.1 %; at whole
    ratios (60 -> 30, 120 -> 30) the output frames are input frames and nothing is interpolated at all. No
    low-pass filter is applied before decimation: human motion has little energy above 10 Hz.
    """
    n = points.shape[0]
    if n == 1 or src_fps == dst_fps:
        return points.copy()
    count = int(np.floor((n - 1) / src_fps * dst_fps + 1e-9)) + 1
    pos = np.arange(count) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(pos + 1e-9).astype(int), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (points.ndim - 1))
    w[np.abs(w) < 1e-9] = 0.0
    return (1.0 - w) * points[lo] + w * points[hi]


def tpose_first_frame(h36m: np.ndarray) -> bool:
    """Is frame 0 a prepended bind pose? Two signs, both required: it is far from frame 1 (over 20 times the
    median frame-to-frame motion and over 10 cm on average per joint) and both arms are near horizontal
    (shoulder -> wrist within 20 degrees of level). A recorded T-pose at the start of a take moves smoothly
    into the motion and is kept."""
    if len(h36m) < 3:
        return False
    step = np.linalg.norm(np.diff(h36m, axis=0), axis=-1).mean(-1)  # (N-1,) mean joint displacement
    if not (step[0] > 20 * np.median(step[1:]) and step[0] > 0.10):
        return False
    names = joints.get("h36m17").joints
    for side in ("left", "right"):
        arm = h36m[0, names.index(f"{side}_wrist")] - h36m[0, names.index(f"{side}_shoulder")]
        if abs(arm[1]) > np.sin(np.radians(20)) * np.linalg.norm(arm):
            return False
    return True


def jump_frames(h36m: np.ndarray, fps: float, speed: float = 10.0, ratio: float = 5.0) -> list[int]:
    """Source frames (after any dropped T-pose frame) where some joint arrives faster than ``speed`` m/s and
    ``ratio`` times faster than in the steps before and after: a pop or a flip of a retargeting solver (no
    human joint moves 0.2 m within 1/60 s and then goes on at walking pace). A pop lists its frame and the
    next, where the joint jumps back."""
    if len(h36m) < 3:
        return []
    step = np.linalg.norm(np.diff(h36m, axis=0), axis=-1) * fps  # (N-1, J) m/s, step k ends at frame k + 1
    around = np.minimum(np.vstack([step[:1] * 0 + np.inf, step[:-1]]), np.vstack([step[1:], step[:1] * 0 + np.inf]))
    return [int(k) + 1 for k in np.flatnonzero(((step > speed) & (step > ratio * around)).any(axis=1))]


def floor_height(rig_points: np.ndarray) -> float:
    """The floor under a sequence, metres: the 1st percentile over frames of the lowest body joint (a toe
    when standing, a hand in a cartwheel). Per sequence, because exports place the floor differently from
    take to take. ``Mapped.body`` leaves out reference roots at floor level and End Sites (CMU's toe tips
    pivot 5 cm below the floor at push-off, which lifted standing feet 8 cm). These are joint centres, not
    skin: the real floor lies ~2 cm under y = 0, and ankles stand 5-9 cm above it."""
    return float(np.percentile(rig_points[..., 1].min(axis=1), FLOOR_PERCENTILE))


def bone_stats(dataset: MocapDataset, joint_set: str = "h36m17") -> dict[str, dict[str, float]]:
    """Per bone (``parent->child`` of the joint set's tree): length mean and std over all frames of all
    sequences, and ``within_std``, the std pooled within sequences (a bone that stretches inside a take,
    as opposed to subjects differing in size)."""
    js = joints.get(joint_set)
    bones = [(p, c) for c, p in enumerate(js.parents) if p >= 0]
    lengths = {b: [] for b in bones}
    for seq in dataset.sequences:
        pts = seq.joints[joint_set]
        for p, c in bones:
            lengths[(p, c)].append(np.linalg.norm(pts[:, c] - pts[:, p], axis=-1))
    out = {}
    for (p, c), per_seq in lengths.items():
        every = np.concatenate(per_seq)
        within = np.sqrt(np.sum([np.var(x) * len(x) for x in per_seq]) / len(every))
        out[f"{js.joints[p]}->{js.joints[c]}"] = {"mean": float(every.mean()), "std": float(every.std()),
                                                  "within_std": float(within), "frames": len(every)}
    return out


def read_descriptions(root: Path) -> dict[tuple[int, int], str]:
    """Motion descriptions from CMU-style CSVs under ``root`` (columns Subject, Trial #, Motion Description)."""
    found: dict[tuple[int, int], str] = {}
    for path in sorted(root.rglob("*.csv")):
        try:
            with open(path, newline="", encoding="utf-8", errors="replace") as fh:
                for row in csv.DictReader(fh):
                    key = _trial_key(row.get("Subject") or "", row.get("Trial #") or "")
                    if key and row.get("Motion Description"):
                        found[key] = row["Motion Description"].strip()
        except (OSError, csv.Error):
            continue  # an unrelated or unreadable CSV is no reason to stop: descriptions are optional
    return found


def _trial_key(subject: str, trial: str) -> tuple[int, int] | None:
    """(subject, trial) numbers from '007' and '007_03' (or '7' and '3')."""
    s = re.fullmatch(r"0*(\d+)", subject.strip())
    t = re.search(r"(\d+)$", trial.strip())
    return (int(s.group(1)), int(t.group(1))) if s and t else None


def standing_frames(h36m: np.ndarray, fps: float, knee_deg: float = 150.0, lean_deg: float = 20.0,
                    planted_speed: float = 0.3) -> np.ndarray:
    """(N,) bool, for checks and reports: standing or in the stance of a step. The trunk near vertical (pelvis
    -> thorax within ``lean_deg`` of +Y), both knees near straight (hip-knee-ankle over ``knee_deg``) and
    an ankle planted (slower than ``planted_speed`` m/s, which rules out the airborne frames of a jump)."""
    names = joints.get("h36m17").joints
    at = {n: h36m[:, names.index(n)] for n in names}

    def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        cos = np.einsum("nk,nk->n", a, b) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-9)
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    ok = angle(at["thorax"] - at["pelvis"], np.broadcast_to([0.0, 1.0, 0.0], at["pelvis"].shape)) < lean_deg
    speed = []
    for side in ("left", "right"):
        hip, knee, ankle = at[f"{side}_hip"], at[f"{side}_knee"], at[f"{side}_ankle"]
        ok &= angle(hip - knee, ankle - knee) > knee_deg
        speed.append(np.linalg.norm(np.gradient(ankle, axis=0), axis=-1) * fps if len(ankle) > 1 else np.zeros(1))
    return ok & (np.minimum(*speed) < planted_speed)
