"""Identities with several people: appearance, gates, merged skeletons, offline split/stitch, edge entries."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from posecli import joints
from posecli.track import appearance as looks
from posecli.track.association import Observation, Tracker, resolve_crossings, split_by_appearance, stitch
from posecli.track.plausibility import frame_ranges, implausible_frames

BP = joints.get("blazepose33")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def skeleton(cx: float, top: float, h: float) -> np.ndarray:
    """33 BlazePose points of an upright person h pixels tall, centred on cx (image y down)."""
    y = {"head": top + 0.06 * h, "shoulder": top + 0.2 * h, "elbow": top + 0.38 * h, "wrist": top + 0.52 * h,
         "hip": top + 0.52 * h, "knee": top + 0.75 * h, "ankle": top + 0.97 * h}
    half = {"shoulder": 0.12 * h, "elbow": 0.15 * h, "wrist": 0.16 * h, "hip": 0.08 * h, "knee": 0.08 * h,
            "ankle": 0.08 * h}
    pts = np.tile([cx, y["head"]], (33, 1)).astype(float)
    for i, name in enumerate(BP.joints):
        for part, dy in y.items():
            if part in name and part != "head":
                side = -1 if name.startswith("left") else 1
                pts[i] = [cx + side * half[part], dy]
        if any(k in name for k in ("heel", "foot")):
            pts[i] = [cx + (-1 if name.startswith("left") else 1) * 0.08 * h, y["ankle"] + 0.02 * h]
    return pts


def paint(image: np.ndarray, pts: np.ndarray, shirt, trousers) -> None:
    """Fill a torso quadrilateral and two legs with flat colours (RGB)."""
    i = BP.index
    torso = pts[[i("left_shoulder"), i("right_shoulder"), i("right_hip"), i("left_hip")]]
    cv2.fillConvexPoly(image, np.round(torso).astype(np.int32), shirt)
    for side in ("left", "right"):
        leg = pts[[i(f"{side}_hip"), i(f"{side}_knee"), i(f"{side}_ankle")]]
        cv2.polylines(image, [np.round(leg).astype(np.int32)], False, trousers, thickness=14)


def observe(image, pts, conf=0.95) -> Observation:
    c = np.full(33, conf)
    o = Observation(np.concatenate([pts.min(0), pts.max(0)]), pts, c)
    o.appearance = looks.describe(image, pts, c, "blazepose33")
    return o


def test_appearance_tells_clothes_apart_and_ignores_position():
    img = np.full((400, 600, 3), 128, np.uint8)
    a, b = skeleton(150, 50, 300), skeleton(450, 60, 280)
    paint(img, a, (200, 30, 30), (20, 20, 120))
    paint(img, b, (30, 160, 40), (15, 15, 15))
    img2 = np.full((400, 600, 3), 90, np.uint8)
    a2 = skeleton(300, 80, 250)  # the same clothes elsewhere, smaller, on another background
    paint(img2, a2, (200, 30, 30), (20, 20, 120))
    da, db = looks.describe(img, a, np.ones(33), "blazepose33"), looks.describe(img, b, np.ones(33), "blazepose33")
    da2 = looks.describe(img2, a2, np.ones(33), "blazepose33")
    assert looks.similarity(da, da2) > 0.9
    assert looks.similarity(da, db) < 0.2
    # regions whose joints are not visible are not described; a person seen nowhere has no look
    hidden = looks.describe(img, a, np.zeros(33), "blazepose33")
    assert np.isnan(hidden).all() and looks.similarity(hidden, da) is None


def _side_by_side(order_flip: bool, with_looks: bool = True, jitter: float = 22.0):
    """A (red) and B (green) walk in from both sides, then stand side by side, boxes overlapping by half,
    for 60 frames while their poses jitter (a fast-moving or badly detected pair). Returns the ids given to
    A's and B's poses."""
    rng = np.random.default_rng(0)
    tr = Tracker(max_age=30)
    ids_a, ids_b = set(), set()
    for f in range(80):
        xa = 100 + 10 * min(f, 20) + rng.uniform(-jitter, jitter) * (f >= 20)
        xb = 550 - 10 * min(f, 20) + rng.uniform(-jitter, jitter) * (f >= 20)
        img = np.full((400, 700, 3), 128, np.uint8)
        pa, pb = skeleton(xa, 50, 300), skeleton(xb, 50, 300)
        front = f % 3 == 0
        for p, colours in ([(pa, ((200, 30, 30), (20, 20, 120))), (pb, ((30, 160, 40), (15, 15, 15)))][::1 if front else -1]):
            paint(img, p, *colours)
        oa, ob = observe(img, pa), observe(img, pb)
        if not with_looks:
            oa.appearance = ob.appearance = None
        flip = order_flip and rng.random() < 0.5
        ids = tr.update(f, [ob, oa] if flip else [oa, ob])
        ia, ib = (ids[1], ids[0]) if flip else (ids[0], ids[1])
        ids_a.add(ia)
        ids_b.add(ib)
    return ids_a, ids_b


def test_a_big_person_is_described_from_a_sampled_grid_with_the_full_histogram(monkeypatch):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)  # noise: every pixel differs
    pts = skeleton(960, 60, 950)
    paint(img, pts, (200, 30, 30), (20, 20, 120))
    img[(np.arange(1080) % 24) < 8] = (240, 240, 240)  # white stripes 8 px wide: the sampled grid still sees them
    seen = []
    convert = cv2.cvtColor
    monkeypatch.setattr(looks.cv2, "cvtColor", lambda patch, code: seen.append(patch.shape[:2]) or convert(patch, code))
    sampled, budget = looks.describe(img, pts, np.ones(33), "blazepose33"), looks.SAMPLED_PIXELS
    monkeypatch.setattr(looks, "SAMPLED_PIXELS", 10**9)
    full = looks.describe(img, pts, np.ones(33), "blazepose33")
    # the torso's box holds ~40,000 pixels; its colours were read from about SAMPLED_PIXELS of them
    assert seen[0][0] * seen[0][1] <= 1.5 * budget < seen[2][0] * seen[2][1] / 5
    assert np.sqrt(sampled * full).sum(1).min() > 0.995  # Bhattacharyya, per region
    np.testing.assert_allclose(sampled.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("order_flip", [False, True])
def test_crossing_people_with_the_same_boxes_keep_their_ids_by_appearance(order_flip):
    ids_a, ids_b = _side_by_side(order_flip)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_without_appearance_the_same_pair_is_confused():
    # the geometry alone cannot say who is who when their poses jump by more than half their distance
    outcomes = [_side_by_side(flip, with_looks=False) for flip in (False, True)]
    assert any(len(a) > 1 or len(b) > 1 for a, b in outcomes)


def test_motion_and_size_gates_refuse_a_jump_to_another_person():
    tr = Tracker(max_age=30, fps=30)
    img = np.full((600, 1200, 3), 128, np.uint8)
    for f in range(10):
        assert tr.update(f, [observe(img, skeleton(200 + 2 * f, 100, 300))]) == [1]
    # one frame later a pose 300 px away (one body height): nobody moves that fast
    assert tr.update(10, [observe(img, skeleton(520, 100, 300))]) == [2]
    # a pose twice the size where the person was: not them either (a skeleton spread over two people)
    assert tr.update(11, [observe(img, skeleton(222, 20, 600))]) == [3]


def test_a_merged_skeleton_spanning_two_people_is_dropped_by_the_backend():
    from posecli.detect.landmarks import PersonLandmarks
    from posecli.detect.roi import Roi
    from posecli.track.backends import BlazePoseBackend

    def person(pts):
        aux = np.array([pts[[23, 24]].mean(0), pts[0] - [0, 20]])
        return PersonLandmarks(pts, np.zeros(33), np.ones(33), np.ones(33), np.zeros((33, 3)), 1.0, aux,
                               Roi(*pts.mean(0), 10.0))

    a, b = skeleton(200, 100, 300), skeleton(420, 100, 300)
    merged = np.concatenate([a[:17], b[17:]])  # upper body on A, legs on B...
    merged[:, 1] = 100 + (merged[:, 1] - 100) * 2  # ...and twice A's height

    class FakeDetector:
        calls = 0

        def detect(self, image, tiled=False, levels=1):
            FakeDetector.calls += 1
            return []

        def detect_in(self, image, region):
            return []

    class FakeModel:
        detector = FakeDetector()
        tiled_detection = True
        duplicate_overlap = 0.7
        step = 0

        def track_step(self, image, rois, max_persons=None, dedupe=True):
            self.step += 1
            return [person(merged), person(b)] if self.step == 2 else [person(a), person(b)][:len(rois)]

    backend = BlazePoseBackend(model=FakeModel(), pyramid_every=0)
    backend._rois = [Roi(200, 250, 400), Roi(420, 250, 400)]
    backend._sizes = [float(np.hypot(*(a.max(0) - a.min(0)))), float(np.hypot(*(b.max(0) - b.min(0))))]
    image = np.zeros((600, 800, 3), np.uint8)
    first = backend.persons(image)
    assert len(first) == 2
    calls = FakeDetector.calls
    second = backend.persons(image)
    assert backend.rejected == 1 and len(second) == 1 and np.allclose(second[0].keypoints, b)
    assert FakeDetector.calls == calls + 1  # the loss made the detector look again at once


class _LevelRecorder:
    """A detector that finds nobody and records the finest grid of each whole-frame search."""

    def __init__(self):
        self.levels = []

    def detect(self, image, tiled=False, levels=1):
        self.levels.append(levels)
        return []

    def detect_in(self, image, region):
        return []


def test_the_small_people_search_reaches_the_finest_grid_asked_for_on_its_frames_only():
    """``--pyramid-levels 3``: the periodic search (every ``pyramid_every`` frames) goes down to the level-3
    grid; the frames between run the detector's coarse passes only (when they run it at all)."""
    from posecli.detect.roi import Roi

    for asked in (2, 3):
        detector = _LevelRecorder()
        _run_backend(lambda image, rois, **kw: [None for _ in rois], detector, [Roi(100, 100, 50)], [50.0], 7, [0],
                     pyramid_every=3, detect_every=1, pyramid_levels=asked, pyramid_backoff=1)
        assert detector.levels == [asked, 1, 1, asked, 1, 1, asked]


@pytest.mark.parametrize("height, expected", [(60.0, 3), (300.0, 2)])
def test_auto_levels_search_the_finest_grid_only_while_someone_followed_is_small(height, expected):
    """``--pyramid-levels auto`` in a 600-pixel-high frame: a followed person 60 px tall (10 %) shows a wide shot,
    whose other people may be as small: the search goes down to the level-3 grid; one 300 px tall does not."""
    from posecli.detect.roi import Roi

    pts = skeleton(400, 100, height)
    size = float(np.hypot(*(pts.max(0) - pts.min(0))))
    detector = _LevelRecorder()
    _run_backend(lambda image, rois, **kw: [_landmarks(pts) for _ in rois], detector, [Roi(400, 100 + height / 2,
                 height)], [size], 4, [0], pyramid_every=3, detect_every=1, pyramid_levels="auto", pyramid_backoff=1)
    assert detector.levels == [expected, 1, 1, expected]


@pytest.mark.parametrize("someone_new, expected", [(False, [0, 6, 18, 30]), (True, [0, 3, 6, 9])])
def test_the_small_people_search_waits_longer_while_it_finds_nobody_new(someone_new, expected):
    """``--pyramid-every 3 --pyramid-backoff 4``: a search that starts nobody doubles the wait before the next (3,
    6, 12, 12: at most 4 x 3 frames); one that starts someone new keeps it at 3."""

    frame = [0]

    class Detector:  # on a search frame, one new person (at a new place each time) when ``someone_new``
        def __init__(self):
            self.searches = []

        def detect(self, image, tiled=False, levels=1):
            if levels < 2:
                return []
            self.searches.append(frame[0])
            return [_found(skeleton(100.0 + 150 * len(self.searches), 100, 300))] if someone_new else []

        def detect_in(self, image, region):
            return []

    def track_step(image, rois, max_persons=None, dedupe=True):
        return [_landmarks(skeleton(r.cx, 100, 300)) for r in rois]

    detector = Detector()
    _run_backend(track_step, detector, [], [], 31 if not someone_new else 10, frame, pyramid_every=3,
                 pyramid_backoff=4)
    assert detector.searches == expected


def _landmarks(pts):
    """A landmark result for a 33-point skeleton, as the backend reads it (hip centre, scale point)."""
    from posecli.detect.landmarks import PersonLandmarks
    from posecli.detect.roi import Roi

    aux = np.array([pts[[23, 24]].mean(0), pts[0] - [0, 20]])
    return PersonLandmarks(pts, np.zeros(33), np.ones(33), np.ones(33), np.zeros((33, 3)), 1.0, aux,
                           Roi(*pts.mean(0), 10.0))


def _found(pts):
    """The detector's result for a 33-point skeleton: hip centre, a scale point below it, shoulder centre (twice)."""
    from posecli.detect.detector import Detection

    hips, shoulders = pts[[23, 24]].mean(0), pts[[11, 12]].mean(0)
    keypoints = np.array([hips, hips + [0, 200], shoulders, shoulders])
    return Detection(0.9, np.r_[shoulders - 20, shoulders + 20], keypoints)


class _SearchDetector:
    """Finds nobody on the whole frame; in a searched square, the person whose skeleton is ``pts`` from frame
    ``FOUND`` on. Records the frames it searched."""

    FOUND = 4

    def __init__(self, frame: list, pts: np.ndarray):
        self.frame, self.pts, self.searched = frame, pts, []

    def detect(self, image, tiled=False, levels=1):
        return []

    def detect_in(self, image, region):
        self.searched.append(self.frame[0])
        return [_found(self.pts)] if self.frame[0] >= self.FOUND else []


def _run_backend(track_step, detector, rois, sizes, frames: int, frame: list, fps: float | None = None,
                 **options) -> list[int]:
    """People reported per frame by a BlazePoseBackend over a fake model (``track_step``, ``detector``), at the
    backend's reference rate or at ``fps``."""
    from posecli.track.backends import BlazePoseBackend

    class FakeModel:
        tiled_detection = True
        duplicate_overlap = 0.7

    model = FakeModel()
    model.detector, model.track_step = detector, track_step
    backend = BlazePoseBackend(model=model, **{"pyramid_every": 0, "detect_every": 100, **options})
    if fps is not None:
        backend.start(fps)
    backend._rois, backend._sizes = list(rois), list(sizes)
    image = np.zeros((600, 800, 3), np.uint8)
    counts = []
    for f in range(frames):
        frame[0] = f
        counts.append(len(backend.persons(image)))
    return counts


@pytest.mark.parametrize("moved", [0.0, 150.0])
def test_a_lost_person_is_looked_for_where_they_were_lost_until_found_again(moved):
    """The landmark model loses a person on frame 1; the detector misses them there on frames 1-3 and finds them
    on frame 4: with ``lost_frames`` 15 they are followed again from frame 4, with 1 (the search on the frame of
    the loss only) they stay lost until the next whole-frame detection. The search ends once it found them,
    also where they were found away from where they were lost (``moved`` pixels: 0.375 ROI sides)."""
    from posecli.detect.roi import Roi

    start = skeleton(300, 100, 300)
    hips = start[[23, 24]].mean(0)
    frame = [0]
    seen_frame = [-1]

    def track_step(image, rois, max_persons=None, dedupe=True):
        first = seen_frame[0] != frame[0]  # the frame's first call follows the people followed, later ones are fresh
        seen_frame[0] = frame[0]
        pts = start + ([moved, 0] if frame[0] >= _SearchDetector.FOUND else 0)
        return [None if first and frame[0] == 1 else _landmarks(pts) for _ in rois]

    size = float(np.hypot(*(start.max(0) - start.min(0))))
    for lost_frames, expected in [(15, [1, 0, 0, 0, 1, 1, 1, 1]), (1, [1, 0, 0, 0, 0, 0, 0, 0])]:
        detector = _SearchDetector(frame, start + [moved, 0])
        seen_frame[0] = -1
        counts = _run_backend(track_step, detector, [Roi(*hips, 400.0)], [size], 8, frame,
                                  lost_frames=lost_frames)
        assert counts == expected, (lost_frames, counts)
        assert detector.searched == ([1, 2, 3, 4] if lost_frames == 15 else [1])


def test_at_60_fps_a_lost_person_is_looked_for_on_every_other_frame_for_half_a_second():
    """The schedules are in seconds of video: at 60 fps a search lasts 30 frames and looks on the frame of the loss
    and then every other frame (the 30 passes per second it was measured with at 30 fps); the person the detector
    finds from frame 4 on is found on frame 5."""
    from posecli.detect.roi import Roi

    start = skeleton(300, 100, 300)
    hips = start[[23, 24]].mean(0)
    frame, seen_frame = [0], [-1]

    def track_step(image, rois, max_persons=None, dedupe=True):
        first = seen_frame[0] != frame[0]
        seen_frame[0] = frame[0]
        return [None if first and frame[0] == 1 else _landmarks(start) for _ in rois]

    size = float(np.hypot(*(start.max(0) - start.min(0))))
    detector = _SearchDetector(frame, start)
    counts = _run_backend(track_step, detector, [Roi(*hips, 400.0)], [size], 8, frame, fps=60)
    assert counts == [1, 0, 0, 0, 0, 1, 1, 1] and detector.searched == [1, 3, 5]


@pytest.mark.parametrize("fps, expected", [(30, [0, 1, 2, 3, 4, 5]), (60, [0, 2, 4])])
def test_where_two_followed_people_overlap_the_local_pass_runs_30_times_a_second(fps, expected):
    """Two followed people overlapping send a detector pass to the square around both: on every frame at 30 fps,
    on every other one at 60 (the rate it was measured at)."""
    from posecli.detect.roi import Roi

    a, b = skeleton(300, 100, 300), skeleton(340, 100, 300)
    frame = [0]

    class Detector:
        def __init__(self):
            self.looked = []

        def detect(self, image, tiled=False, levels=1):
            return []

        def detect_in(self, image, region):
            self.looked.append(frame[0])
            return []

    def track_step(image, rois, max_persons=None, dedupe=False):
        return [_landmarks(a if r.cx < 320 else b) for r in rois]

    size = float(np.hypot(*(a.max(0) - a.min(0))))
    detector = Detector()
    counts = _run_backend(track_step, detector, [Roi(*a[[23, 24]].mean(0), 400.0), Roi(*b[[23, 24]].mean(0), 400.0)],
                          [size, size], 6, frame, fps=fps)
    assert counts == [2] * 6 and detector.looked == expected


def test_the_search_for_a_lost_person_goes_on_beside_a_neighbour():
    """A neighbour followed inside the lost person's square (hips 0.3 ROI sides away) is not the lost person come
    back: the search goes on, and finds them when the detector does (frame 4)."""
    from posecli.detect.roi import Roi

    lost_pts, near_pts = skeleton(300, 100, 300), skeleton(420, 100, 300)
    hips = lost_pts[[23, 24]].mean(0)
    frame = [0]

    def track_step(image, rois, max_persons=None, dedupe=True):
        out = []
        for roi in rois:
            lost_one = abs(roi.cx - hips[0]) < 40
            out.append(None if lost_one and 1 <= frame[0] < _SearchDetector.FOUND else
                       _landmarks(lost_pts if lost_one else near_pts))
        return out

    detector = _SearchDetector(frame, lost_pts)
    size = float(np.hypot(*(lost_pts.max(0) - lost_pts.min(0))))
    counts = _run_backend(track_step, detector, [Roi(*hips, 400.0), Roi(*near_pts[[23, 24]].mean(0), 400.0)],
                              [size, size], 7, frame)
    assert counts == [2, 1, 1, 1, 2, 2, 2] and detector.searched == [1, 2, 3, 4]


def test_a_look_around_a_followed_person_finds_someone_beside_them_and_no_second_skeleton_on_them():
    """On the detector's scheduled frames a pass on a square around each followed person finds people beside them
    (too small for the whole-frame passes); a skeleton it starts that lies mostly on the followed person (here
    shifted by a fifth of their height, so neither the hip test nor the duplicate test catches it) is refused."""
    from posecli.detect.roi import Roi

    a, beside = skeleton(300, 100, 300), skeleton(520, 120, 260)
    shifted = a + [0, 60]
    hips = {k: p[[23, 24]].mean(0) for k, p in (("a", a), ("beside", beside), ("shifted", shifted))}
    frame = [0]

    class Detector:
        def detect(self, image, tiled=False, levels=1):
            return []

        def detect_in(self, image, region):
            return [_found(p) for k, p in (("beside", beside), ("shifted", shifted))]

    def track_step(image, rois, max_persons=None, dedupe=True):
        # each ROI gives the skeleton whose hips it is centred on
        return [_landmarks({"a": a, "beside": beside, "shifted": shifted}[
            min(hips, key=lambda k: np.linalg.norm(hips[k] - [r.cx, r.cy]))]) for r in rois]

    size = float(np.hypot(*(a.max(0) - a.min(0))))
    assert _run_backend(track_step, Detector(), [Roi(*hips["a"], 400.0)], [size], 3, frame, detect_every=2) \
        == [1, 2, 2]  # frame 1 is the scheduled one: the person beside is found, the shifted skeleton is not kept
    assert _run_backend(track_step, Detector(), [Roi(*hips["a"], 400.0)], [size], 3, frame, detect_every=100) \
        == [1, 1, 1]  # no scheduled detection, no look around


def test_implausible_frames_flag_merged_and_collapsed_skeletons():
    coco = joints.get("coco17")
    base = np.stack([skeleton(300 + 2 * f, 100, 300) for f in range(60)])
    pts, _ = joints.convert(base, np.ones(base.shape[:2]), "blazepose33", "coco17")
    pts = pts.copy()
    pts[20:24] = pts[20:24, :1] + (pts[20:24] - pts[20:24, :1]) * 2.2  # spread over two people
    pts[40] = pts[40, :1] + (pts[40] - pts[40, :1]) * 0.2  # crumpled
    bad = implausible_frames(pts, coco.name, fps=30)
    assert np.flatnonzero(bad).tolist() == [20, 21, 22, 23, 40]
    assert frame_ranges(np.flatnonzero(bad)) == "20-23, 40"


def test_offline_split_where_a_track_slides_onto_someone_else_and_stitch_back():
    img_a = np.full((400, 640, 3), 128, np.uint8)
    img_b = img_a.copy()
    pa, pb = skeleton(200, 50, 300), skeleton(420, 50, 300)
    paint(img_a, pa, (200, 30, 30), (20, 20, 120))
    paint(img_b, pb, (30, 160, 40), (15, 15, 15))
    # track 1: A for 40 frames, then (the ROI slid) B for 30 frames; track 2: B for frames 0-30
    one = [(f, observe(img_a, pa)) for f in range(40)] + [(f, observe(img_b, pb)) for f in range(40, 70)]
    two = [(f, observe(img_b, pb)) for f in range(0, 31)]
    pieces = split_by_appearance([(1, one), (2, two)], next_id=3)
    frames = {tid: [f for f, _ in h] for tid, h in pieces}
    assert frames[1] == list(range(40)) and frames[3] == list(range(40, 70)) and frames[2] == list(range(31))
    joined = {tid: [f for f, _ in h] for tid, h in stitch(pieces, max_gap=30, fps=30)}
    assert joined == {1: list(range(40)), 2: list(range(31)) + list(range(40, 70))}


def test_reidentification_after_leaving_the_frame_needs_a_distinctive_look():
    img = np.full((400, 640, 3), 128, np.uint8)
    pa = skeleton(200, 50, 300)
    paint(img, pa, (200, 30, 30), (20, 20, 120))
    out_and_back = [(1, [(f, observe(img, pa)) for f in range(30)]),
                    (2, [(f, observe(img, skeleton(560, 50, 300))) for f in range(120, 150)])]
    for _, h in out_and_back[1:]:
        for _, o in h:
            o.appearance = out_and_back[0][1][0][1].appearance.copy()
    joined = stitch(out_and_back, max_gap=30, fps=30, reid_gap=150)
    assert [tid for tid, _ in joined] == [1] and len(joined[0][1]) == 60
    # a third person dressed the same: who came back is ambiguous, nothing is joined
    twin = (3, [(f, observe(img, skeleton(300, 50, 300))) for f in range(115, 140)])  # beside the one back
    for _, o in twin[1]:
        o.appearance = out_and_back[0][1][0][1].appearance.copy()
    assert len(stitch(out_and_back + [twin], max_gap=30, fps=30, reid_gap=150)) == 3


@pytest.mark.skipif(not (EXAMPLES / "balance_cam01.mp4").is_file(), reason="examples/balance_cam01.mp4 missing")
def test_a_person_entering_at_the_frame_edge_is_found():
    """The balance clip's person slid in from the left edge: found once half of them is in view."""
    from posecli.boxes import box_iou
    from posecli.track.backends import BlazePoseBackend
    from posecli.video import read_frames

    image = next(iter(read_frames(EXAMPLES / "balance_cam01.mp4"))).image
    backend = BlazePoseBackend(pyramid_every=0)
    full = backend.persons(image)[0].box  # whole person, for the truth box
    backend = BlazePoseBackend(pyramid_every=0)
    width = full[2] - full[0]
    found_at = None
    for step, inside in enumerate(np.linspace(0.2, 1.0, 9)):
        shift = int(full[0] + (1 - inside) * width)
        frame = np.zeros_like(image)
        frame[:, : image.shape[1] - shift] = image[:, shift:]
        truth = np.clip(full - [shift, 0, shift, 0], 0, None)
        people = backend.persons(frame)
        hit = any(box_iou(np.clip(p.box, 0, None), truth)[0, 0] > 0.5 for p in people)
        if hit and found_at is None:
            found_at = inside
        if found_at is not None:
            assert hit, f"lost again at {inside:.1f} in view"
    assert found_at is not None and found_at <= 0.5


def _walker(x0: float, speed: float, look: np.ndarray, frames: range) -> list:
    out = []
    for f in frames:
        pts = skeleton(x0 + speed * f, 50, 300)
        o = Observation(np.concatenate([pts.min(0), pts.max(0)]), pts, np.full(33, 0.95))
        o.appearance = look.copy()
        out.append((f, o))
    return out


def test_a_swap_where_two_people_crossed_is_undone_offline():
    """Two people in similar clothes (similarity 0.71, above what split_by_appearance cuts at) cross; the
    tracks come out of the crossing on each other's person. Judged by comparison (each track's look before
    against both looks after), the remainders are exchanged back; a crossing without a swap is left alone."""
    shape = (len(looks.REGIONS), looks.REGION_BINS)
    a = np.zeros(shape)
    a[:, :4] = 0.25
    b = 0.5 * a
    b[:, 10:14] = 0.125  # half A's colours, half others
    assert 0.6 < looks.similarity(a, b) < 0.75
    # person A walks right, B walks left; they overlap around frame 45
    person_a = _walker(100, 6.0, a, range(90))
    person_b = _walker(640, -6.0, b, range(90))
    swapped = [(1, person_a[:45] + person_b[45:]), (2, person_b[:45] + person_a[45:])]
    assert len(split_by_appearance(swapped, next_id=3)) == 2  # the absolute test does not see it
    fixed = dict(resolve_crossings(swapped, fps=30))
    assert all(o.appearance[0, 0] == a[0, 0] for _, o in fixed[1]) and len(fixed[1]) == 90
    assert all(o.appearance[0, 0] == b[0, 0] for _, o in fixed[2]) and len(fixed[2]) == 90
    assert [f for f, _ in fixed[1]] == list(range(90))
    kept = dict(resolve_crossings([(1, person_a), (2, person_b)], fps=30))
    assert [o for _, o in kept[1]] == [o for _, o in person_a] and [o for _, o in kept[2]] == [o for _, o in person_b]


def test_a_skeleton_placed_outside_the_image_is_not_reported(tmp_path):
    """A landmark model holding on to texture can place a skeleton's joints outside the frame: such a track
    (fewer than 5 joints in view in most frames) is dropped; a person at the edge with most joints in view stays."""
    from posecli.track.backends import Person, PoseBackend
    from posecli.track.pipeline import TrackOptions, track_video
    from posecli.video import VideoWriter

    class Scripted(PoseBackend):
        name = "scripted"
        joint_set = "blazepose33"

        def persons(self, image):
            inside = skeleton(60, 20, 150)  # whole person in view
            edge = skeleton(318, 20, 150)  # on the right edge: its left half and its head in view
            outside = skeleton(100, 260, 400)  # below the frame: placed, but no joint in view
            return [Person(p, np.full(33, 0.9)) for p in (inside, edge, outside)]

    video = tmp_path / "v.mp4"
    with VideoWriter(video, fps=30) as w:
        for _ in range(12):
            w.write(np.full((200, 320, 3), 90, np.uint8))
    poses = track_video(video, Scripted(), TrackOptions(min_frames=1, sides=False, stitch=False))
    centres = sorted(round(float(np.median(t.keypoints["keypoints2d"].points[0, :, 0]))) for t in poses.tracks)
    assert len(poses.tracks) == 2 and centres[0] < 100 and centres[1] > 280
    assert poses.meta["min_joints"] == 5


def test_an_object_the_landmark_model_half_believes_in_is_not_reported(tmp_path):
    """A track whose pose flag stays below 0.95 (an object taken for a person frame after frame at 0.6-0.9, as
    the LED ring of a motion-capture camera) is dropped; a person whose flag dips for a few frames stays, and
    ``min_flag=0`` keeps both."""
    from posecli.track.backends import Person, PoseBackend
    from posecli.track.pipeline import TrackOptions, track_video
    from posecli.video import VideoWriter

    class Scripted(PoseBackend):
        name = "scripted"
        joint_set = "blazepose33"
        frame = 0

        def persons(self, image):
            self.frame += 1
            person = Person(skeleton(60, 20, 150), np.full(33, 0.9), score=0.6 if self.frame % 5 == 0 else 0.999)
            thing = Person(skeleton(220, 20, 150), np.full(33, 0.9), score=0.6 + 0.03 * (self.frame % 10))
            return [person, thing]

    video = tmp_path / "v.mp4"
    with VideoWriter(video, fps=30) as w:
        for _ in range(20):
            w.write(np.full((200, 320, 3), 90, np.uint8))

    def centres(**options):
        poses = track_video(video, Scripted(), TrackOptions(min_frames=1, sides=False, stitch=False, **options))
        return sorted(round(float(np.median(t.keypoints["keypoints2d"].points[0, :, 0]))) for t in poses.tracks)

    kept = centres()
    assert len(kept) == 1 and kept[0] < 150
    assert len(centres(min_flag=0.0)) == 2


@pytest.mark.parametrize("new_flag, expected", [(0.9, [2, 2]), (0.5, [3, 3])])
def test_a_new_skeleton_on_someone_followed_needs_a_confident_pose_flag(new_flag, expected):
    """Second skeletons start where a detection overlaps someone followed: there a new person needs a pose flag of
    ``new_flag`` (0.9 by default); a person found away from everyone starts at the landmark model's 0.5. Both new
    skeletons here have a flag of 0.8, and hips too far from the followed person's to count as them."""
    from posecli.detect.roi import Roi

    a, behind, far = skeleton(300, 100, 300), skeleton(350, 60, 260), skeleton(650, 100, 300)
    people = {"a": a, "behind": behind, "far": far}
    hips = {k: p[[23, 24]].mean(0) for k, p in people.items()}
    frame = [0]

    class Detector:
        def detect(self, image, tiled=False, levels=1):
            return [_found(p) for k, p in people.items() if k != "a"]

        def detect_in(self, image, region):
            return []

    def track_step(image, rois, max_persons=None, dedupe=True):
        out = []
        for r in rois:  # each ROI gives the skeleton whose hips it is centred on
            k = min(hips, key=lambda k: np.linalg.norm(hips[k] - [r.cx, r.cy]))
            out.append(_landmarks(people[k]))
            out[-1].score = 1.0 if k == "a" else 0.8
        return out

    size = float(np.hypot(*(a.max(0) - a.min(0))))
    assert _run_backend(track_step, Detector(), [Roi(*hips["a"], 400.0)], [size], 2, frame, detect_every=1,
                        new_flag=new_flag) == expected


@pytest.mark.parametrize("slides, expected", [(False, [2, 2]), (True, [1, 1])])
def test_a_skeleton_that_slid_off_the_person_its_detection_found_is_not_started(slides, expected):
    """A detection of a person half behind a followed one sends the landmark model there; where it returns a
    skeleton that slid towards the person in front (hips and shoulders a quarter of their size away from the
    detection's, too far apart for the duplicate test), that skeleton is not started: it would be a second one on
    the person in front. Where it returns the person found, they are followed."""
    from posecli.detect.roi import Roi

    a, behind = skeleton(300, 100, 300), skeleton(420, 100, 300)
    slid = behind + [-80, 0]
    frame = [0]

    class Detector:
        def detect(self, image, tiled=False, levels=1):
            return [_found(behind)]

        def detect_in(self, image, region):
            return []

    def track_step(image, rois, max_persons=None, dedupe=True):
        return [_landmarks(a if abs(r.cx - 300) < 1 else slid if slides else behind) for r in rois]

    size = float(np.hypot(*(a.max(0) - a.min(0))))
    assert _run_backend(track_step, Detector(), [Roi(*a[[23, 24]].mean(0), 400.0)], [size], 2, frame,
                        detect_every=1, new_flag=0.5) == expected
