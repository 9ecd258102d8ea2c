"""2D pose backends behind one interface: a frame in, the people in it out (as tracker observations).

``blazepose``: multi-person, BlazePose's detector and landmark models run directly (posecli.detect) by LiteRT or,
ported to torch, on any torch device, following each person with a landmark-derived ROI between detector runs, as
MediaPipe does for one person.
``mediapipe-single``: MediaPipe's legacy Pose solution (one person, its own smoothing), kept as a reference.
A user-supplied model (e.g. an RTMPose ONNX file) plugs in by subclassing ``PoseBackend``.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..boxes import box_size, overlap_of_smaller
from ..console import native_stderr_silenced
from ..detect.roi import Roi
from ..errors import PoseCliError
from .association import Observation

HIPS = [23, 24]  # BlazePose's hip landmarks
SHOULDERS = [11, 12]  # and shoulder landmarks
FOLLOWED_DISTANCE = 0.2
LOST_SEARCH = 1.5  # side of the square searched for a lost person, in their last ROI sides
# The detector's schedules, in seconds of video: people enter, hide and move at the same speed whatever the frame
# rate. They were chosen on 30 fps renders (docs/benchmarks.md), where they are 10, 30 and 15 frames; counted in
# frames they made the detector look for new people twice as often per second on 60 fps video, at twice the cost.
DETECT_SECONDS = 1 / 3  # the whole-frame detector pass (track --detect-every)
PYRAMID_SECONDS = 1.0  # the small-person grid (track --pyramid-every)
# How long a lost person's square is searched from the loss on (fixed before measuring it): a person the detector
# misses on the frame they were lost is often found there a few frames later (docs/benchmarks.md, session 25:
# IDF1 0.803 -> 0.814 on the standard MOT renders, 3 switches fewer).
LOST_SECONDS = 0.5
REFERENCE_FPS = 30.0  # the rate assumed until ``start`` gives the video's
# The pose flag a new skeleton needs where it overlaps someone followed (elsewhere the landmark model's 0.5): the
# second skeletons that cost identity switches start there (docs/benchmarks.md, session 26: IDF1 0.827 -> 0.835, 30
# -> 23 switches on the standard MOT renders; 0.9 everywhere found people late, recall -0.009).
NEW_FLAG = 0.9
# The small-person grid is ~15 detector passes: while it finds nobody new it waits longer, up to this many times
# --pyramid-every (4 s at the default; docs/benchmarks.md, session 26: 20 % fewer detector passes on
# sports2d/demo, IDF1 -0.002 on the MOT renders, the shared clips' tracks the same).
PYRAMID_BACKOFF = 4
AROUND = "around"  # a detection's source: the look around a followed person
AUTO = "auto"  # pyramid_levels: the level-3 grid only while someone followed is smaller than SMALL_PERSON
SMALL_PERSON = 0.15  # of the frame height: the people the level-3 grid is for (docs/benchmarks.md, session 25)


def frames_in(seconds: float, fps: float) -> int:
    """A duration as a whole number of frames (at least 1)."""
    return max(1, round(seconds * fps))


@dataclass
class Person:
    """What a backend knows about one person in one frame (the ``payload`` of an Observation)."""

    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    presence: np.ndarray | None = None  # (J,) probability the joint is inside the frame
    world: np.ndarray | None = None  # (J, 3) metres, hip-centred (BlazePose world landmarks)
    score: float = 1.0

    @property
    def box(self) -> np.ndarray:
        return np.concatenate([self.keypoints.min(0), self.keypoints.max(0)])

    def observation(self) -> Observation:
        return Observation(self.box, self.keypoints, self.confidence, self)


class PoseBackend(ABC):
    name: str = ""
    joint_set: str = "blazepose33"

    @abstractmethod
    def persons(self, image: np.ndarray) -> list[Person]:
        """Everyone in this frame. Frames arrive in order; backends may keep state between them."""

    def start(self, fps: float) -> None:  # noqa: B027 (optional hook)
        """Called before the first frame with the rate frames will arrive at (the video's, divided by ``every``)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        pass

    def new_shot(self) -> None:  # noqa: B027 (optional hook)
        """The video cut to another shot at the next frame: forget where anyone was (followed positions are stale)."""

    def settings(self) -> dict:
        """The options that decide whom it finds (written to the output's meta, to reproduce a result)."""
        return {}


class BlazePoseBackend(PoseBackend):
    """Multi-person BlazePose. In between detector runs each person's ROI comes from their landmarks in the
    previous frame (as MediaPipe does for one person). The detector runs every ``detect_every`` frames, and
    also whenever the count of people is in doubt: a followed person was lost, two followed people overlap
    (one may be hidden or the landmark model may merge them), or a followed pose changed size more than a
    person can between two frames (``MAX_SIZE_CHANGE``: the ROI slid onto someone else, or the landmarks
    spread over two people); such a pose is dropped, not reported. Besides the whole-frame passes, single
    passes on squares at a person's own scale: around each followed person on the scheduled frames, where two
    followed people overlap, and where someone was lost (for ``lost_frames`` frames)."""

    name = "blazepose"
    MAX_SIZE_CHANGE = 1.5  # box diagonal, one frame to the next (as the tracker's per-frame size gate)
    OVERLAP_IN_DOUBT = 0.3  # overlap (of the smaller box) between two followed people that triggers detection

    def __init__(self, detect_every: int | None = None, max_persons: int | None = None, min_pose_score: float = 0.5,
                 pyramid_every: int | None = None, model=None, runtime: str = "litert", device: str = "cpu",
                 detector_weights=None, pyramid_levels: int | str = AUTO, lost_frames: int | None = None,
                 new_flag: float = NEW_FLAG, pyramid_backoff: int = PYRAMID_BACKOFF):
        from ..detect import BlazePoseMulti

        # ``model``: a BlazePoseMulti (or a stand-in with its detector / track_step interface, for tests);
        # ``runtime``: "litert" or "torch" (BlazePose ported to torch, on ``device``)
        self.model = model if model is not None else BlazePoseMulti(min_pose_score=min_pose_score, runtime=runtime,
                                                                    device=device, detector_weights=detector_weights)
        # Each schedule in frames; None: its duration above at the video's rate (``start``).
        # ``detect_every``: the whole-frame detector pass. ``pyramid_every``: the level-2 tile grid
        # (detector.tile_rois), which finds people too small for the whole image and the level-1 tiles at ~15 more
        # detector passes, on the first frame and then every ``pyramid_every`` frames (0: never); people it finds
        # are then followed by the landmark model. ``lost_frames``: how many frames from a loss the lost person's
        # square is searched.
        self._asked = (detect_every, pyramid_every, lost_frames)
        # ``pyramid_levels`` 3 adds a grid at a quarter of the short side (people under ~15 % of the frame); AUTO
        # adds it on the frames where someone followed is that small (a wide shot shows itself by its people)
        self.pyramid_levels = pyramid_levels
        self.new_flag = new_flag
        # While the small-person grid finds nobody new, each pass waits twice as long as the one before, up to
        # ``pyramid_backoff`` x ``pyramid_every`` (1: the fixed schedule); a pass that starts someone resets it.
        self.pyramid_backoff = max(1, pyramid_backoff)
        self.max_persons = max_persons
        self._rois: list = []
        self._sizes: list[float] = []
        self._since_detection = 0
        self._frame = -1  # frames seen so far, less one
        # searches of lost people (ended at the end of ``persons``): [ROI, frames left]
        self._searching: list[list] = []
        self.rejected = 0  # followed poses dropped by the size check (``track`` writes it to the file's meta)
        self.start(REFERENCE_FPS)

    def start(self, fps: float) -> None:
        detect, pyramid, lost = self._asked
        self.detect_every = max(1, detect) if detect is not None else frames_in(DETECT_SECONDS, fps)
        self.pyramid_every = pyramid if pyramid is not None else frames_in(PYRAMID_SECONDS, fps)
        self.lost_frames = max(1, lost) if lost is not None else frames_in(LOST_SECONDS, fps)
        self._since_pyramid = self.pyramid_every  # the first frame is searched
        # The local passes (a lost person's square, two overlapping people's) run at most at the 30 fps they were
        # measured at: every frame at 30 fps and below, every other frame at 60.
        self._local_every = max(1, round(fps / REFERENCE_FPS))
        self._pyramid_wait = self.pyramid_every

    def new_shot(self) -> None:
        # As on a video's first frame: nobody followed or searched for, the whole-frame and grid passes due now.
        self._rois, self._sizes, self._searching = [], [], []
        self._since_detection = self.detect_every
        self._since_pyramid = self._pyramid_wait = self.pyramid_every

    def settings(self) -> dict:
        return {"detect_every": self.detect_every, "pyramid_every": self.pyramid_every,
                "pyramid_levels": self.pyramid_levels, "lost_frames": self.lost_frames, "max_persons": self.max_persons,
                "new_flag": self.new_flag, "pyramid_backoff": self.pyramid_backoff}

    def persons(self, image: np.ndarray) -> list[Person]:
        from ..detect import roi_from_detection, roi_from_landmarks
        from ..detect.blazepose import drop_duplicates
        results = self.model.track_step(image, self._rois, max_persons=self.max_persons)
        followed, lost = [], []
        for p, before, roi in zip(results, self._sizes, self._rois):
            if p is not None:
                change = box_size(p.box) / max(before, 1.0)
                if max(change, 1 / max(change, 1e-6)) <= self.MAX_SIZE_CHANGE:
                    followed.append(p)
                    continue
                self.rejected += 1
            lost.append(roi)
        crowded = [(a, b) for i, a in enumerate(followed) for b in followed[i + 1:]
                   if overlap_of_smaller(a.box, b.box) > self.OVERLAP_IN_DOUBT]
        self._since_detection += 1
        self._since_pyramid += 1
        self._frame += 1
        full = self.max_persons is not None and len(followed) >= self.max_persons
        pyramid = self.pyramid_every > 0 and self._since_pyramid >= self._pyramid_wait
        # sources: per detection, the lost person's search entry it came from, AROUND, or None
        detections, sources = [], []

        def look(square: Roi, source) -> None:
            found = self.model.detector.detect_in(image, square)
            detections.extend(found)
            sources.extend([source] * len(found))

        scheduled = self._since_detection >= self.detect_every
        if not full and (pyramid or lost or not followed or scheduled):
            self._since_detection = 0
            if pyramid:
                self._since_pyramid = 0
            detections.extend(self.model.detector.detect(image, tiled=self.model.tiled_detection,
                                                         levels=self._levels(followed, image) if pyramid else 1))
            sources.extend([None] * len(detections))
        if not full:
            # Where a followed person was lost, or where two overlap (one may hide or merge into the other),
            # look again at their scale: one detector pass on a square around them finds people the whole-image
            # and tile passes are too coarse for, at a fraction of their cost.
            self._searching += [[roi, self.lost_frames] for roi in lost]
            for entry in self._searching:  # on the frame of the loss, then every ``_local_every``-th frame
                if (self.lost_frames - entry[1]) % self._local_every == 0:
                    look(Roi(entry[0].cx, entry[0].cy, LOST_SEARCH * entry[0].size), entry)
            if scheduled:
                # Around each followed person at their own scale: someone beside or behind them, too small for
                # the whole-frame passes, whom no followed pair's overlap would send a local pass to.
                for p in followed:
                    roi = roi_from_landmarks(p)
                    look(Roi(roi.cx, roi.cy, LOST_SEARCH * roi.size), AROUND)
            for a, b in crowded if self._frame % self._local_every == 0 else []:
                box = np.concatenate([np.minimum(a.box[:2], b.box[:2]), np.maximum(a.box[2:], b.box[2:])])
                look(Roi(*((box[:2] + box[2:]) / 2), LOST_SEARCH * float(max(box[2:] - box[:2]))), None)
        done = []  # search entries that found someone
        started = False  # whether anyone new is followed from this frame on
        if detections:
            fresh = [i for i, d in enumerate(detections) if not _followed(d, followed)]
            results = self.model.track_step(image, [roi_from_detection(detections[i]) for i in fresh])
            # A new skeleton must lie where its detection put the person; one the look around starts must not lie
            # mostly on someone followed: that is them again.
            new = [(p, sources[i]) for p, i in zip(results, fresh) if p and _lies_on(detections[i], p)
                   and self._confident(p, followed) and not (
                sources[i] is AROUND and any(overlap_of_smaller(p.box, q.box) > 0.5 for q in followed))]
            if new:
                # A fresh ROI can still land on someone already followed: keep one pose per person.
                followed = [p for p in drop_duplicates(followed + [p for p, _ in new], self.model.duplicate_overlap)
                            if p]
                followed = followed[: self.max_persons]
                kept = [src for p, src in new if any(p is q for q in followed)]
                done = [src for src in kept if isinstance(src, list)]
                started = bool(kept)
        if pyramid:
            self._pyramid_wait = self.pyramid_every if started else min(
                2 * self._pyramid_wait, self.pyramid_backoff * self.pyramid_every)
        # A search ends when it found someone, when the lost person is followed again where they were lost (not
        # a neighbour inside the square), or after ``lost_frames`` frames. Searching on after a find started
        # second skeletons on a person re-found elsewhere (a back-flip in sports2d/demo).
        self._searching = [[entry[0], entry[1] - 1] for entry in self._searching
                           if entry[1] > 1 and not any(entry is d for d in done)
                           and not any(_within(p, entry[0]) for p in followed)]
        self._rois = [roi_from_landmarks(p) for p in followed]
        self._sizes = [box_size(p.box) for p in followed]
        return [Person(p.keypoints, p.visibility, p.presence, p.world, p.score) for p in followed]

    def _levels(self, followed, image: np.ndarray) -> int:
        """The finest grid of this frame's small-person search."""
        if self.pyramid_levels != AUTO:
            return int(self.pyramid_levels)
        small = any(p.box[3] - p.box[1] < SMALL_PERSON * image.shape[0] for p in followed)
        return 3 if small else 2

    def _confident(self, p, followed) -> bool:
        """Whether a new skeleton may start a person: a pose flag of ``new_flag`` where it overlaps someone
        followed (where second skeletons come from), the landmark model's own 0.5 elsewhere."""
        crowded = any(overlap_of_smaller(p.box, q.box) > self.OVERLAP_IN_DOUBT for q in followed)
        return not crowded or p.score >= self.new_flag


# The detector's points (hip centre, shoulder centre: its keypoints 0 and 2) and the landmarks they stand for
HIP_POINT = ((0, HIPS),)
HIP_AND_SHOULDER_POINTS = ((0, HIPS), (2, SHOULDERS))


def _on(detection, person, points) -> bool:
    """Whether each of the detection's ``points`` lies on the person's (the mean of its landmarks), within a
    fifth of the person's size."""
    near = FOLLOWED_DISTANCE * box_size(person.box)
    return all(np.linalg.norm(detection.keypoints[k] - person.keypoints[joints].mean(0)) < near
               for k, joints in points)


def _followed(detection, followed) -> bool:
    """Whether a detection is of someone already followed: its hip centre on theirs. Box overlap is not the
    test: a person standing behind another overlaps them and must be found."""
    return any(_on(detection, p, HIP_POINT) for p in followed)


def _lies_on(detection, person) -> bool:
    """Whether a skeleton is the person a detection found: its hip centre and shoulder centre on the detection's.
    One that fails this slid onto someone beside or in front of that person: kept, it would be a second skeleton
    on them (docs/benchmarks.md, session 30)."""
    return _on(detection, person, HIP_AND_SHOULDER_POINTS)


def _within(person, roi) -> bool:
    """Whether a followed person is the one lost there (the search can stop): their hip centre on the lost ROI's
    centre, which is where BlazePose centres a person's ROI. A neighbour inside the square is not them."""
    hips = person.keypoints[HIPS].mean(0)
    return bool(np.linalg.norm(hips - [roi.cx, roi.cy]) < FOLLOWED_DISTANCE * roi.size)


class MediapipeSingleBackend(PoseBackend):
    """MediaPipe's legacy one-person Pose solution in video mode (model_complexity=1, the bundled model)."""

    name = "mediapipe-single"

    def __init__(self, smooth: bool = True):
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise PoseCliError(f"mediapipe cannot be imported ({exc})", "pip install mediapipe==0.10.14") from exc
        # The graph starts its TFLite interpreters in its own threads, each saying so on file descriptor 2
        # ("Created TensorFlow Lite XNNPACK delegate", absl's "Feedback manager requires ..."): one blank frame
        # while that output is muted makes them start, and say it, before anything of ours is printed.
        with native_stderr_silenced():
            self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                                smooth_landmarks=smooth)
            self._pose.process(np.zeros((64, 64, 3), np.uint8))

    def persons(self, image: np.ndarray) -> list[Person]:
        with warnings.catch_warnings():  # mediapipe's protobuf use, on the first results
            warnings.filterwarnings("ignore", "SymbolDatabase.GetPrototype", UserWarning)
            res = self._pose.process(np.ascontiguousarray(image))
        if res.pose_landmarks is None:
            return []
        h, w = image.shape[:2]
        lm = np.array([(p.x * w, p.y * h, p.visibility, p.presence) for p in res.pose_landmarks.landmark])
        world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark])
        return [Person(lm[:, :2], lm[:, 2].astype(np.float32), lm[:, 3].astype(np.float32), world)]

    def new_shot(self) -> None:
        # The graph forgets the person it followed; its restarted interpreters announce themselves on their first
        # frame, so one blank frame goes through while that output is muted (as in __init__).
        with native_stderr_silenced():
            self._pose.reset()
            self._pose.process(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        self._pose.close()


BACKENDS = {"blazepose": BlazePoseBackend, "mediapipe-single": MediapipeSingleBackend}
