"""``track``: frames -> per-frame people (a backend) -> identities (Tracker) -> the pose data model."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, joints
from ..console import note, plural, progress, warn
from ..poses import BLAZEPOSE_WORLD, BOXES, KEYPOINTS_2D, Keypoints, Poses, Track, shot_index
from ..video import probe, read_frames
from ..video.cuts import CUT, LIGHT, CutDetector
from ..video.prefetch import prefetch
from . import appearance as looks
from .association import Observation, Tracker, resolve_crossings, split_by_appearance, stitch
from .backends import Person, PoseBackend
from .gaps import FILLED, FILLED_CONFIDENCE, fill_gaps
from .plausibility import frame_ranges, implausible_frames
from .sides import make_consistent
from .smoothing import one_euro

BLAZEPOSE_2D = "blazepose2d"  # the raw 33 BlazePose landmarks, pixels


@dataclass
class TrackOptions:
    start: int = 0
    end: int | None = None
    every: int = 1
    fps: float | None = None  # for image folders
    max_age: float = 1.0  # seconds a lost person keeps their ID
    min_frames: int | None = None  # shorter tracks are dropped; default: 0.25 s of video, at least 5 frames
    max_persons: int | None = None
    order: str = "length"  # or "size"
    smooth: bool = False
    sides: bool = True  # undo sudden left/right label flips along each track (sides.consistent_sides)
    stitch: bool = True  # the whole-video pass: resolve_crossings, split_by_appearance, stitch (association)
    reid: float = 5.0  # seconds within which a person who comes back is re-identified by appearance
    # shot cuts end every track, identities carry across them by appearance only; a change of light makes
    # everyone's look be learnt again (video.cuts)
    cuts: bool = True
    min_height: float = 0.04  # people (median box height) smaller than this fraction of the frame are dropped
    min_joints: int = 5  # tracks showing fewer COCO joints in the image (confidence >= 0.5) in most frames are dropped
    min_flag: float = 0.95  # tracks whose median pose flag (the landmark model's "a person is here") is lower: dropped
    fill_gaps: float = 0.0  # seconds: gaps inside a track up to this long are filled in (gaps), 0 = left as gaps


def track_video(path: str | Path, backend: PoseBackend, opts: TrackOptions) -> Poses:
    info = probe(path, fps=opts.fps)
    end = info.frames if opts.end is None else min(opts.end, info.frames)
    total = max(0, -(-(end - opts.start) // opts.every))
    max_age = max(1, round(opts.max_age * info.fps))
    tracker = Tracker(max_age=max_age, fps=info.fps / opts.every)
    times: dict[int, float] = {}
    backend.start(info.fps / opts.every)
    cut_detector = CutDetector(info.fps / opts.every) if opts.cuts else None
    shots: list[int] = []  # frames that start a new shot
    lights: list[int] = []  # frames where the scene's light changed colour (same shot)
    try:
        with progress(f"track {Path(path).name}", total) as advance:
            for frame in prefetch(read_frames(path, opts.start, opts.end, opts.every, fps=opts.fps)):
                change = cut_detector.change(frame.image) if cut_detector is not None else None
                if change == CUT:
                    # Whoever was followed is somewhere else now, or gone: the landmark model on their old place
                    # would hand their identity to whoever stands there in the new shot.
                    backend.new_shot()
                    tracker.cut()
                    shots.append(frame.index)
                elif change == LIGHT:
                    # Everyone is where they were, but looks different from here on: their looks are learnt again.
                    tracker.relight()
                    lights.append(frame.index)
                observations = [p.observation() for p in backend.persons(frame.image)]
                for o in observations:
                    o.appearance = looks.describe(frame.image, o.keypoints, o.confidence, backend.joint_set)
                tracker.update(frame.index, observations)
                times[frame.index] = frame.time
                advance()
    finally:
        backend.close()
    # Flickering false detections live a few frames; a quarter second keeps the rule the same at 30 and 60 fps,
    # and a clip shorter than that keeps anyone seen in half of it.
    default_min = min(max(5, round(0.25 * info.fps / opts.every)), max(1, total // 2))
    min_frames = 1 if info.kind == "image" else opts.min_frames or default_min
    pieces = tracker.tracks
    if opts.stitch:
        pieces = resolve_crossings(pieces, info.fps / opts.every)
        pieces = split_by_appearance(pieces, next_id=tracker.next_id, lights=lights)
        pieces = stitch(pieces, max_age, info.fps / opts.every, reid_gap=round(opts.reid * info.fps / opts.every),
                        cuts=shots, lights=lights)
    tracks = [_to_track(tid, hist, times, backend.joint_set, opts.smooth, info.fps / opts.every, opts.sides, shots)
              for tid, hist in pieces if len(hist) >= min_frames]
    # BlazePose's pose flag stays high on some person-like objects a few dozen pixels tall (a wall-mounted
    # camera, a poster); people that small are also beyond what its 256-pixel landmark crops resolve.
    tracks = [t for t in tracks if _height(t) >= opts.min_height * info.height]
    # On strong textures (tiled floors, striped walls) the landmark model can hold on to a skeleton whose joints
    # it places outside the image (presence near 0): a "person" nobody sees. Whoever shows fewer than
    # ``min_joints`` joints in the image in most frames is dropped; 5 of 17 is where the tracking benchmark
    # starts counting a person at all (bench/track_mot.py).
    tracks = [t for t in tracks if _joints_in_view(t, info.width, info.height) >= opts.min_joints]
    # The pose flag passes a frame at 0.5, and some objects hold it there for seconds (a motion-capture camera's
    # LED ring taken for a face); over a whole track a person's median flag is near 1 (0.99 or more on the shared
    # real clips). 0.95 was chosen on the MOT renders (docs/benchmarks.md, session 26: of 0 / 0.85 / 0.9 / 0.95,
    # the best IDF1 on both scene sets, with 2 and 12 fewer identity switches: the tracks it drops there lie on
    # nobody or only partly on a person).
    tracks = [t for t in tracks if float(np.median(t.arrays["score"])) >= opts.min_flag]
    tracks = _order(tracks, opts.order)[: opts.max_persons]
    for new_id, t in enumerate(tracks, start=1):
        t.attrs["tracker_id"] = t.id
        t.id = new_id
    if opts.fill_gaps > 0:  # after the filters and the order, which judge what was seen
        gap = round(opts.fill_gaps * info.fps / opts.every)
        tracks = [fill_gaps(t, gap, opts.every, info.width, info.height, shots) for t in tracks]
        filled = sum(int(t.arrays[FILLED].sum()) for t in tracks)
        if filled:
            note(f"{plural(filled, 'frame')} filled in across gaps of up to {opts.fill_gaps:g} s (track array "
                 f"'{FILLED}'; joint confidence {FILLED_CONFIDENCE:g}: where the person was, not seen)")
    flagged = [f"track {t.id} frames {frame_ranges(t.frames[t.arrays['implausible'] > 0])}"
               for t in tracks if t.arrays["implausible"].any()]
    if flagged:
        warn(f"2D skeletons merged with another person or collapsed in {'; '.join(flagged)}: their keypoint "
             "confidence is set to 0 (later steps skip them)")
    if shots:
        listed = ", ".join(map(str, shots[:10])) + (f" and {len(shots) - 10} more" if len(shots) > 10 else "")
        note(f"{plural(len(shots), 'shot cut')} (frame{'s' if len(shots) > 1 else ''} {listed}): someone seen on "
             "both sides keeps their ID only where their looks match beyond doubt (--no-cuts: cuts not looked for)")
    if not tracks:
        warn(f"nobody was found in {path}; the output holds no tracks")
    return Poses(tracks, fps=info.fps, width=info.width, height=info.height, num_frames=info.frames,
                 source=str(path), meta={"command": "track", "backend": backend.name, "posecli": __version__,
                                         "backend_settings": backend.settings(),
                                         "start": opts.start, "end": opts.end, "every": opts.every,
                                         "smoothed": opts.smooth, "stitched": opts.stitch,
                                         "sides_kept_consistent": opts.sides,
                                         "max_age_s": opts.max_age, "reid_s": opts.reid,
                                         "cuts": opts.cuts, "shot_cuts": shots, "light_changes": lights,
                                         "min_height": opts.min_height, "min_joints": opts.min_joints,
                                         "min_flag": opts.min_flag, "fill_gaps_s": opts.fill_gaps,
                                         # poses the backend refused (size jump: merged or slid onto someone)
                                         "refused_poses": int(getattr(backend, "rejected", 0))})


def _to_track(tid: int, history: list[tuple[int, Observation]], times: dict[int, float], joint_set: str,
              smooth: bool, fps: float, sides: bool = True, cuts: list[int] | None = None) -> Track:
    frames = np.array([f for f, _ in history])
    t = np.array([times[f] for f in frames])
    people: list[Person] = [o.payload for _, o in history]
    pts = np.stack([p.keypoints for p in people]).astype(np.float32)
    conf = np.clip(np.stack([p.confidence for p in people]), 0, 1).astype(np.float32)
    boxes = np.stack([p.box for p in people]).astype(np.float32)
    world = np.stack([p.world for p in people]).astype(np.float32) if people[0].world is not None else None
    swapped, bad = np.zeros(len(frames), bool), np.zeros(len(frames), bool)
    # Left/right consistency, smoothing and the plausibility test follow a person through time, one shot at a
    # time: across a shot cut the same person is seen by another camera, at another size, maybe from behind.
    shot = shot_index(frames, cuts or [])
    for k in (shot == s for s in np.unique(shot)):
        if sides:  # before smoothing, which would otherwise drag joints across a flip
            extra = () if world is None else (world[k],)
            pts[k], conf[k], *extra, swapped[k] = make_consistent(pts[k], conf[k], t[k], boxes[k, 3] - boxes[k, 1],
                                                                  joint_set, *extra)
            if world is not None:
                world[k] = extra[0]
        if smooth:
            pts[k] = one_euro(pts[k], t[k], np.hypot(boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1]))
            if world is not None:  # MediaPipe's settings for world landmarks
                world[k] = one_euro(world[k], t[k], min_cutoff=0.1, beta=40.0)
        bad[k] = implausible_frames(joints.convert(pts[k], conf[k], joint_set, "coco17")[0], "coco17", fps)
    if smooth:
        boxes = np.concatenate([pts.min(1), pts.max(1)], axis=1)
    coco, coco_conf = joints.convert(pts, conf, joint_set, "coco17")
    conf[bad], coco_conf[bad] = 0, 0
    layers = {KEYPOINTS_2D: Keypoints("coco17", coco, coco_conf), BLAZEPOSE_2D: Keypoints(joint_set, pts, conf)}
    if world is not None:
        layers[BLAZEPOSE_WORLD] = Keypoints(joint_set, world, conf)
    arrays = {BOXES: boxes, "score": np.array([p.score for p in people], dtype=np.float32),
              "implausible": bad.astype(np.uint8), "sides_swapped": swapped.astype(np.uint8)}
    if people[0].presence is not None:
        arrays["presence"] = np.stack([p.presence for p in people]).astype(np.float32)
    return Track(tid, frames, t, layers, arrays)


def _joints_in_view(track: Track, width: int, height: int) -> float:
    """Median over the track's frames of its COCO joints inside the image with confidence >= 0.5."""
    kp = track.keypoints[KEYPOINTS_2D]
    x, y = kp.points[..., 0], kp.points[..., 1]
    with np.errstate(invalid="ignore"):
        seen = (kp.confidence >= 0.5) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return float(np.median(seen.sum(-1)))


def _height(track: Track) -> float:
    b = track.arrays[BOXES]
    return float(np.median(b[:, 3] - b[:, 1]))


def _order(tracks: list[Track], order: str) -> list[Track]:
    def size(t: Track) -> float:
        b = t.arrays[BOXES]
        return float(np.median(np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))

    key = (lambda t: (len(t), size(t))) if order == "length" else (lambda t: (size(t), len(t)))
    return sorted(tracks, key=key, reverse=True)
