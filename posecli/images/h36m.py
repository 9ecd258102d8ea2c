"""Human3.6M as users have it -> person samples (:class:`~posecli.images.cache.FrameSample`) for image-based 3D
pose training (MCSS, Protocol 2: train on S1 S5 S6 S7 S8 every 5th frame, test on S9 S11 every 64th).

The dataset cannot ship with posecli, so both layouts users actually hold are read, found per subject folder:

Original release (``ROOT/S1/...`` as unpacked from the official archives)
  ``Videos/<Action>.<camera>.mp4`` (50 fps, 1000x1002 or 1000x1000), ``MyPoseFeatures/D3_Positions/<Action>.cdf``
  (variable ``Pose``: (1, N, 96) = 32 joints x 3, millimetres, world Z up) and
  ``MyPoseFeatures/D2_Positions/<Action>.<camera>.cdf`` (``Pose``: (1, N, 64) = 32 joints x 2, pixels). The
  folder names anibali/h36m-fetch's ``extract_all.py`` gives the same files (``Poses_D3_Positions``,
  ``Poses_D2_Positions``) are accepted too. The action is the file stem before the camera id ("Directions 1").
  ``_ALL`` videos (several actions run together, no poses of their own) are skipped. Labels: VideoPose3D's 17
  of the 32 joints (``H36M32_TO_17``), metres, turned to posecli's Y-up world exactly as
  :mod:`posecli.mocap.h36m` does (no floor shift: a crop label needs no floor). Crop squares come from D2,
  the dataset's own projection with its calibrated cameras, so no camera model is needed here;
  ``MySegmentsMat/ground_truth_bb`` boxes, if present, are ignored: they come from the background-subtraction
  masks, not the joints, and would frame crops by a rule that no other source (nor inference) shares. Video,
  D2 and D3 lengths can differ by a few frames: the shortest wins (the video's frames simply stop earlier;
  the D2/D3 rows past the end have no image, and images past the end have no label).

Processed layout (anibali/h36m-fetch's ``process_all.py``)
  ``ROOT/S1/<Action>-<n>/imageSequence/<camera>/img_%06d.jpg`` (1-based: frame index = number - 1, as its
  ffmpeg extraction numbers them) and ``ROOT/S1/<Action>-<n>/annot.h5`` holding per row (one camera's view
  of one frame): ``camera`` (int id), ``frame`` (1-based), ``pose/2d`` (pixels), ``pose/3d`` (millimetres in
  that camera's frame: the release's D3_Positions_mono, x right, y down, z forward), ``pose/3d-univ`` (the
  same with the universal, rescaled skeleton), ``intrinsics/<camera>``, ``subject``, ``action``,
  ``subaction``. Read from the fetcher's source (checked, not assumed): it stores all 32 joints, reshaped
  from the release's cdf files, so they are mapped with ``H36M32_TO_17``; files from forks that store 17
  joints are taken as already in H36M-17 (VideoPose3D) order, the order such forks select them in. Older
  versions without ``pose/3d`` fall back to ``pose/3d-univ`` (metric, but the universal skeleton's size).
  The file has no extrinsics, so there is no world: one pose per instant is made shared by all views by
  taking the lowest camera id's pose at that frame, turned from camera axes to Y up by a 180-degree turn
  about x (:func:`posecli.amodal.canonical.camera_to_upright`). Up is thus that camera's, not gravity
  (Human3.6M's cameras are near level: a few degrees of tilt), and the position is camera-relative; the MCSS
  target (pelvis-relative joints turned about the up axis) needs neither. A frame that camera lacks takes
  another camera's pose moved into its frame by the rigid transform fitted (Kabsch) on the frames both hold
  (exact: both are the same world pose seen by fixed cameras), so all labels of a group share axes.
  The fetcher keeps only some frames (S9/S11 every 64th; S1-S8 only frames after 4 cm of motion), and
  ``every`` filters those by index: use ``every=1`` to take everything it kept.

Both layouts: group = ``subject/action`` (one synchronised recording), view = camera id, instant = index of
the frame in the 50 Hz sequence (the same index in every camera's video is the same moment, as the dataset
publishes them), and only frames with ``index % every == 0`` are yielded. A frame whose projected joints
give no square (fewer than two finite points) is skipped. Every check on the tree (subjects, layout, missing
pose files, unknown cameras) runs when :func:`h36m_samples` is called, before any frame is decoded.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..amodal.canonical import camera_to_upright
from ..errors import InputError, PoseCliError
from ..formats.vp3d import H36M32_TO_17
from ..mocap.h36m import _ZUP_TO_YUP
from .cache import FrameSample
from .crops import square_from_points

ORIGINAL, PROCESSED = "original", "processed"
# The official archives unpack to MyPoseFeatures/...; h36m-fetch's extract_all.py strips that to Poses_...
_D3_DIRS = ("MyPoseFeatures/D3_Positions", "Poses_D3_Positions")
_D2_DIRS = ("MyPoseFeatures/D2_Positions", "Poses_D2_Positions")
_SUBJECT = re.compile(r"S\d+")
_NEITHER = ("neither Videos/*.mp4 + MyPoseFeatures/D3_Positions/*.cdf (original release) nor "
            "<Action>-<n>/imageSequence + annot.h5 (processed layout)")
_ROOT_FIX = "give the folder that holds S1, S5, ... of an unpacked Human3.6M release or of h36m-fetch's processed/"


@dataclass
class _Recording:
    """One synchronised recording of one subject, located (not read) when the samples are asked for."""
    layout: str
    subject: str
    action: str
    cameras: list[str]
    videos: dict[str, Path] = field(default_factory=dict)  # original: camera -> video
    d3: Path | None = None  # original: world poses
    d2: dict[str, Path] = field(default_factory=dict)  # original: camera -> projected joints
    folder: Path | None = None  # processed: <Action>-<n> folder


def _subject_order(name: str) -> int:
    return int(name[1:])


def _first_dir(subject_dir: Path, names: tuple[str, ...]) -> Path | None:
    return next((subject_dir / n for n in names if (subject_dir / n).is_dir()), None)


def _videos(subject_dir: Path) -> dict[str, dict[str, Path]]:
    """action -> camera -> video, from ``Videos/<Action>.<camera>.mp4`` ("_ALL" composites left out)."""
    out: dict[str, dict[str, Path]] = {}
    folder = subject_dir / "Videos"
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.mp4")):
        action, dot, camera = p.stem.rpartition(".")
        if p.name.startswith("_ALL") or not dot or not action:
            continue
        out.setdefault(action, {})[camera] = p
    return out


def _processed_actions(subject_dir: Path) -> list[Path]:
    return sorted(d for d in subject_dir.iterdir()
                  if d.is_dir() and (d / "annot.h5").is_file() and (d / "imageSequence").is_dir())


def _subject_layout(subject_dir: Path) -> str | None:
    d3 = _first_dir(subject_dir, _D3_DIRS)
    if d3 is not None and _videos(subject_dir) and any(d3.glob("*.cdf")):
        return ORIGINAL
    if _processed_actions(subject_dir):
        return PROCESSED
    return None


def detect_layout(root: Path, subjects: list[str] | None = None) -> str:
    """``"original"`` or ``"processed"`` for the subject folders of ``root`` (all ``S<n>`` ones, or ``subjects``).

    Raises a one-line :class:`InputError` naming what is missing: the root, subjects asked for, a subject
    folder that is neither layout, or subjects in different layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("is not a folder", _ROOT_FIX, root)
    present = {d.name: d for d in root.iterdir() if d.is_dir() and _SUBJECT.fullmatch(d.name)}
    wanted = sorted(present, key=_subject_order) if subjects is None else list(subjects)
    if not wanted:
        raise InputError("holds no subject folder (S1, S5, ...)", _ROOT_FIX, root)
    missing = [s for s in wanted if s not in present]
    if missing:
        found = ", ".join(sorted(present, key=_subject_order)) or "none"
        raise InputError(f"has no subject folder {', '.join(missing)} (subjects found: {found})",
                         "give the Human3.6M root that holds them, or leave them out of the subject list", root)
    layouts = {}
    for s in wanted:
        layout = _subject_layout(present[s])
        if layout is None:
            raise InputError(_NEITHER, "unpack the subject's Videos and D3/D2_Positions archives there, or give "
                             "h36m-fetch's processed/ folder as the root", present[s])
        layouts[s] = layout
    if len(set(layouts.values())) > 1:
        listing = "; ".join(f"{s}: {layout}" for s, layout in layouts.items())
        raise InputError(f"mixes layouts ({listing})", "keep all subjects in one layout under one root", root)
    return layouts[wanted[0]]


def _original_recordings(subject: str, subject_dir: Path) -> list[_Recording]:
    d3_dir, d2_dir = _first_dir(subject_dir, _D3_DIRS), _first_dir(subject_dir, _D2_DIRS)
    out = []
    for action, videos in sorted(_videos(subject_dir).items()):
        d3 = d3_dir / f"{action}.cdf"
        if not d3.is_file():
            raise InputError(f"is missing (the 3D poses of videos {action}.*.mp4)",
                             "unpack the subject's D3_Positions archive, or move those videos aside", d3)
        d2 = {}
        for camera in videos:
            d2[camera] = (d2_dir or subject_dir / _D2_DIRS[0]) / f"{action}.{camera}.cdf"
            if not d2[camera].is_file():
                raise InputError("is missing (the projected joints that frame the crops of "
                                 f"{videos[camera].name})", "unpack the subject's D2_Positions archive, or move "
                                 "that video aside", d2[camera])
        out.append(_Recording(ORIGINAL, subject, action, sorted(videos), videos=videos, d3=d3, d2=d2))
    return out


def _processed_recordings(subject: str, subject_dir: Path) -> list[_Recording]:
    return [_Recording(PROCESSED, subject, d.name, sorted(c.name for c in (d / "imageSequence").iterdir()
                                                          if c.is_dir()), folder=d)
            for d in _processed_actions(subject_dir)]


def h36m_samples(root: Path, subjects: list[str], every: int,
                 cameras: list[str] | None = None) -> Iterator[FrameSample]:
    """Person samples of ``subjects`` (e.g. ``["S1", "S5"]``) in ``root``, frames with ``index % every == 0``.

    ``cameras`` keeps only those camera ids (e.g. ``["54138969"]``; all when None). The tree is checked now
    (see the module docstring); frames are decoded lazily, one at a time, as the iterator is consumed.
    """
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise PoseCliError(f"every={every!r} must be an integer >= 1", "5 for Protocol 2 training, 64 for testing")
    root = Path(root)
    subjects = list(subjects)
    if not subjects:
        raise InputError("no Human3.6M subject asked for", "list subjects such as S1 S5 S6 S7 S8")
    detect_layout(root, subjects)
    recordings: list[_Recording] = []
    for s in subjects:
        subject_dir = root / s
        layout = _subject_layout(subject_dir)
        find = _original_recordings if layout == ORIGINAL else _processed_recordings
        recordings += find(s, subject_dir)
    wanted = None if cameras is None else {str(c) for c in cameras}
    if wanted is not None:
        known = {c for r in recordings for c in r.cameras}
        unknown = sorted(wanted - known)
        if unknown:
            raise InputError(f"no camera {', '.join(unknown)} in {', '.join(subjects)} "
                             f"(cameras there: {', '.join(sorted(known)) or 'none'})",
                             "give camera ids as the file names spell them", root)
    return _samples(recordings, int(every), wanted)


def _samples(recordings: list[_Recording], every: int, wanted: set[str] | None) -> Iterator[FrameSample]:
    for r in recordings:
        if r.layout == ORIGINAL:
            yield from _original_samples(r, every, wanted)
        else:
            yield from _processed_samples(r, every, wanted)


def _read_cdf(path: Path, dim: int) -> np.ndarray:
    """``Pose`` of a Human3.6M cdf as (N, 32, dim) float64 (cdflib gives (1, N, 32 * dim): one record)."""
    import cdflib

    try:
        with cdflib.CDF(Path(path)) as cdf:  # a Path, never a str: cdflib fetches str paths that look like URLs
            pose = np.asarray(cdf.varget("Pose"), np.float64)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise InputError(f"is not a readable Human3.6M pose file ({exc})",
                         "restore it from the dataset's archive", path) from None
    if pose.size % (32 * dim):
        raise InputError(f"Pose has shape {pose.shape}, not (1, N, {32 * dim})",
                         "restore it from the dataset's archive", path)
    return pose.reshape(-1, 32, dim)


def _original_samples(r: _Recording, every: int, wanted: set[str] | None) -> Iterator[FrameSample]:
    from ..video import read_frames

    world = _read_cdf(r.d3, 3)[:, H36M32_TO_17] / 1000.0
    pose = (world @ _ZUP_TO_YUP.T).astype(np.float32)
    group = f"{r.subject}/{r.action}"
    for camera in r.cameras:
        if wanted is not None and camera not in wanted:
            continue
        uv = _read_cdf(r.d2[camera], 2)[:, H36M32_TO_17]
        n = min(len(pose), len(uv))  # a shorter video stops read_frames by itself
        if n == 0:
            continue
        video = r.videos[camera]
        try:
            for frame in read_frames(video, every=every, end=n):
                square = square_from_points(uv[frame.index])
                if square is not None:
                    yield FrameSample(group, r.subject, camera, frame.index, frame.image, square,
                                      pose[frame.index].copy())
        except InputError as exc:
            if exc.path is None or Path(exc.path).resolve() != video.resolve():
                raise
            # a damaged video (S11's Directions.54138969.mp4 is reported damaged in some copies) need not
            # stop the whole build: without it its camera is simply left out of that action
            raise InputError(exc.problem, "move this video out of Videos/ to leave its camera out of that "
                             "action", video) from exc


def _to17(a: np.ndarray, path: Path, name: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[1] == 32:
        return a[:, H36M32_TO_17]
    if a.ndim == 3 and a.shape[1] == 17:
        return a  # forks that store 17 joints select VideoPose3D's 17, in that order (module docstring)
    raise InputError(f"{name} has shape {a.shape}, expected (N, 32 or 17, D)",
                     "re-run h36m-fetch's process_all.py for this action", path)


def _rigid(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation moving (K, 3) ``src`` onto ``dst`` in least squares (Kabsch, no reflection)."""
    ms, md = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - ms).T @ (dst - md))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, md - rot @ ms


def _shared_labels(camera: np.ndarray, frame: np.ndarray, pose: np.ndarray) -> dict[int, np.ndarray]:
    """frame number -> one (17, 3) pose in the lowest camera id's upright axes (module docstring)."""
    per = {}
    for c in sorted(set(camera.tolist())):
        rows = np.flatnonzero(camera == c)
        per[c] = {int(frame[i]): pose[i] for i in rows}
    ids = list(per)
    labels = dict(per[ids[0]])
    for c in ids[1:]:
        extra = [f for f in per[c] if f not in labels]
        if not extra:
            continue
        common = [f for f in per[c] if f in per[ids[0]]]
        src = np.concatenate([per[c][f] for f in common]) if common else np.zeros((0, 3))
        dst = np.concatenate([per[ids[0]][f] for f in common]) if common else np.zeros((0, 3))
        ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
        # three points fix a rotation; with fewer shared points this camera's own upright axes are the best left
        rot, shift = _rigid(src[ok], dst[ok]) if ok.sum() >= 3 else (np.eye(3), np.zeros(3))
        for f in extra:
            labels[f] = per[c][f] @ rot.T + shift
    return {f: p.astype(np.float32) for f, p in labels.items()}


def _processed_samples(r: _Recording, every: int, wanted: set[str] | None) -> Iterator[FrameSample]:
    import h5py

    from ..video.probe import read_image

    path = r.folder / "annot.h5"
    try:
        with h5py.File(path, "r") as f:
            camera = np.asarray(f["camera"]).astype(np.int64).reshape(-1)
            frame = np.asarray(f["frame"]).astype(np.int64).reshape(-1)
            uv = np.asarray(f["pose/2d"], np.float64)
            key = "pose/3d" if "pose/3d" in f else "pose/3d-univ"
            xyz = np.asarray(f[key], np.float64)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"is not a readable h36m-fetch annotation ({exc})",
                         "re-run h36m-fetch's process_all.py for this action", path) from None
    uv, xyz = _to17(uv, path, "pose/2d"), _to17(xyz, path, key)
    if not (len(camera) == len(frame) == len(uv) == len(xyz)):
        raise InputError(f"camera, frame, pose/2d and {key} have {len(camera)}, {len(frame)}, {len(uv)} and "
                         f"{len(xyz)} rows", "re-run h36m-fetch's process_all.py for this action", path)
    if not len(camera):
        return
    labels = _shared_labels(camera, frame, camera_to_upright(xyz / 1000.0))
    group = f"{r.subject}/{r.action}"
    for c in sorted(set(camera.tolist())):
        cid = str(c)
        if wanted is not None and cid not in wanted:
            continue
        rows = np.flatnonzero(camera == c)
        for i in rows[np.argsort(frame[rows], kind="stable")]:
            number = int(frame[i])
            index = number - 1
            if index < 0 or index % every:
                continue
            square = square_from_points(uv[i])
            if square is None:
                continue
            image_path = r.folder / "imageSequence" / cid / f"img_{number:06d}.jpg"
            if not image_path.is_file():
                raise InputError("is missing (annot.h5 lists this frame)",
                                 "re-run h36m-fetch's process_all.py for this action to extract it", image_path)
            yield FrameSample(group, r.subject, cid, index, read_image(image_path), square, labels[number].copy())
