"""Tests for posecli.detect: multi-person BlazePose run directly with LiteRT.

Unit tests need only numpy + the models bundled in the mediapipe wheel.  Integration tests use the
shared sample videos (skipped when ../shared/data is absent) and, where possible, compare with
mediapipe's own legacy API on the same frame.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from posecli.detect import BlazePoseMulti, PersonLandmarks, Roi, roi_from_detection, roi_from_landmarks, roi_from_points
from posecli.detect import models
from posecli.detect.blazepose import drop_duplicates
from posecli.detect.anchors import NUM_ANCHORS, generate_anchors
from posecli.boxes import box_iou
from posecli.detect.detector import tile_rois, weighted_nms
from posecli.detect.landmarks import LandmarkModel, refine_with_heatmap
from posecli.detect.roi import apply_affine, letterbox_roi, warp_crop
from posecli.errors import PoseCliError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEOS = DATA / "videos"
needs_videos = pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"sample videos not found at {VIDEOS}")


# ---------------------------------------------------------------- anchors

def test_anchor_grid_matches_mediapipe():
    anchors = generate_anchors()
    assert anchors.shape == (NUM_ANCHORS, 2) == (2254, 2)
    # stride 8: 28x28 cells x 2 anchors, stride 16: 14x14 x 2, strides 32 (3 layers merged): 7x7 x 6
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])  # two anchors per cell
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])  # x runs fastest
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[1960:1966], np.full((6, 2), 0.5 / 7))
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


# ---------------------------------------------------------------- ROI geometry

@pytest.mark.parametrize("angle", [0.0, 0.4, -2.5, math.pi / 2])
def test_roi_round_trip_is_identity(angle):
    roi = Roi(cx=400.0, cy=700.0, size=900.0, angle=angle)
    pts = np.random.default_rng(0).uniform(-500, 1500, size=(50, 2))
    back = apply_affine(roi.crop_to_image(256), apply_affine(roi.image_to_crop(256), pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    # crop centre <-> ROI centre, crop corners <-> ROI corners
    np.testing.assert_allclose(apply_affine(roi.crop_to_image(256), [[128, 128]])[0], [400, 700])
    np.testing.assert_allclose(apply_affine(roi.crop_to_image(256), [[0, 0], [256, 0], [256, 256], [0, 256]]),
                               roi.corners(), atol=1e-9)


@pytest.mark.parametrize("direction", [0.0, 0.7, 2.0, -1.2, math.pi])
def test_roi_from_points_puts_scale_point_straight_up(direction):
    centre = np.array([300.0, 500.0])
    scale_point = centre + 200.0 * np.array([math.cos(direction), math.sin(direction)])
    roi = roi_from_points(centre, scale_point)
    assert roi.size == pytest.approx(2 * 200 * 1.25)
    assert -math.pi <= roi.angle < math.pi
    # In the crop the scale point sits straight above the centre, at radius n / (2 * 1.25).
    crop = apply_affine(roi.image_to_crop(256), [centre, scale_point])
    np.testing.assert_allclose(crop[0], [128, 128], atol=1e-9)
    np.testing.assert_allclose(crop[1], [128, 128 - 256 / 2.5], atol=1e-9)


def test_upright_person_has_zero_rotation():
    roi = roi_from_points([100, 400], [100, 100])  # scale point above the hips
    assert roi.angle == pytest.approx(0.0, abs=1e-12)


def test_letterbox_roi_pads_the_short_side():
    roi = letterbox_roi(1080, 1920)
    assert (roi.cx, roi.cy, roi.size, roi.angle) == (540, 960, 1920, 0)
    # the image's left edge lands (1920 - 1080) / 2 px into the padded square
    assert apply_affine(roi.image_to_crop(1920), [[0, 0]])[0] == pytest.approx([420, 0])


# ---------------------------------------------------------------- crops

def _test_image(h=300, w=400):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, size=(h // 10, w // 10, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((10, 10, 1), dtype=np.uint8)))  # blocky: smooth enough


def test_crop_samples_the_roi():
    image = _test_image()
    roi = Roi(205.0, 145.0, 100.0, 0.0)  # axis aligned, 100 px -> 50 px: one crop px = 2 image px
    crop = warp_crop(image, roi, 50)
    # crop pixel (j, i) samples image point roi corner + 2 * (j, i)
    np.testing.assert_array_equal(crop[10, 20], image[95 + 20, 155 + 40].astype(np.float32))


# ---------------------------------------------------------------- post-processing

def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    scores = np.array([0.9, 0.6, 0.8])
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=float)
    kps = np.zeros((3, 4, 2))
    kps[1] += 1.0
    out = weighted_nms(scores, boxes, kps, 0.3)
    assert [round(s, 3) for s, _, _ in out] == [0.9, 0.8]
    np.testing.assert_allclose(out[0][1], [0.6 / 1.5, 0, 10 + 0.6 / 1.5, 10])
    np.testing.assert_allclose(out[0][2], np.full((4, 2), 0.6 / 1.5))
    np.testing.assert_allclose(out[1][1], boxes[2])


def test_box_iou():
    assert box_iou(np.array([0, 0, 10, 10.0]), np.array([[5, 0, 15, 10.0]]))[0, 0] == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 10, 10.0]), np.array([[20, 20, 30, 30.0]]))[0, 0] == 0


def _fake_person(box):
    x1, y1, x2, y2 = box
    kps = np.array([[x1, y1], [x2, y2]] + [[(x1 + x2) / 2, (y1 + y2) / 2]] * 31, dtype=float)
    return PersonLandmarks(kps, np.zeros(33), np.ones(33), np.ones(33), np.zeros((33, 3)), 1.0,
                           kps[:2].copy(), Roi((x1 + x2) / 2, (y1 + y2) / 2, 10.0))


def test_drop_duplicates_keeps_the_whole_person_over_a_part():
    legs = _fake_person([320, 800, 440, 1080])  # a "person" found on someone's legs
    whole = _fake_person([270, 430, 570, 1160])
    other = _fake_person([510, 870, 940, 1710])  # a second person, overlapping a little
    out = drop_duplicates([legs, None, whole, other])
    assert out[0] is None and out[1] is None and out[2] is whole and out[3] is other


def test_heatmap_refinement():
    hm = np.full((64, 64, 3), -20.0, dtype=np.float32)  # sigmoid ~ 0: no confidence anywhere
    hm[30, 40, 0] = 20.0  # confident single cell for point 0
    xy = np.array([[41.5 / 64, 31.2 / 64], [0.5, 0.5], [1.5, 0.5]])
    out = refine_with_heatmap(xy, hm)
    np.testing.assert_allclose(out[0], [40 / 64, 30 / 64], atol=1e-6)  # cell index / size, no half offset
    np.testing.assert_allclose(out[1:], xy[1:])  # low confidence / outside: untouched


def _refine_reference(xy, hm, kernel=7, min_conf=0.5):
    """Line-by-line port of mediapipe's RefineLandmarksFromHeatMap loop."""
    hm_h, hm_w, n = hm.shape
    out = xy.copy()
    off = (kernel - 1) // 2
    for i in range(n):
        col, row = int(xy[i, 0] * hm_w), int(xy[i, 1] * hm_h)
        if col < 0 or col >= hm_w or row < 0 or col >= hm_h:
            continue
        total = wc = wr = best = 0.0
        for r in range(max(0, row - off), min(hm_h, row + off + 1)):
            for c in range(max(0, col - off), min(hm_w, col + off + 1)):
                conf = 1 / (1 + math.exp(-float(hm[r, c, i])))
                total += conf
                best = max(best, conf)
                wc += c * conf
                wr += r * conf
        if best >= min_conf and total > 0:
            out[i] = [wc / hm_w / total, wr / hm_h / total]
    return out


def test_heatmap_refinement_matches_reference_loop():
    rng = np.random.default_rng(3)
    hm = rng.normal(-1, 2, size=(64, 64, 39)).astype(np.float32)
    xy = rng.uniform(-0.1, 1.1, size=(39, 2))
    xy[:3] = [[-0.005, 0.5], [0.5, 1.02], [0.999, 0.0]]  # edge cases: truncation, unchecked row bound
    np.testing.assert_allclose(refine_with_heatmap(xy, hm), _refine_reference(xy, hm), atol=1e-9)


def test_tiles_cover_the_long_side():
    tiles = tile_rois(1080, 1920)
    assert [t.cy for t in tiles] == [540, 960, 1380] and all(t.size == 1080 for t in tiles)
    assert tile_rois(1000, 900) == []


def test_finer_tile_grids_cover_the_frame_at_half_the_side_each_level():
    """Levels 2 and 3 (``track --pyramid-levels``): squares of 1/2 and 1/4 of the short side, overlapping so
    that any square of a fifth of their side lies whole inside one of them, anywhere in the frame."""
    for w, h in [(960, 540), (1080, 1920)]:
        for level, n in [(2, 3 * 5), (3, 5 * 9)]:
            tiles = tile_rois(w, h, level)
            side = min(w, h) / 2 ** (level - 1)
            assert len(tiles) == n and all(t.size == side for t in tiles)
            half = side / 5
            for x in np.linspace(0, w - half, 23):
                for y in np.linspace(0, h - half, 17):
                    assert any(t.cx - side / 2 <= x and x + half <= t.cx + side / 2 and
                               t.cy - side / 2 <= y and y + half <= t.cy + side / 2 for t in tiles), (w, h, level, x, y)


def test_the_finest_grid_keeps_only_the_people_of_its_own_scale():
    """In every tile the fake detector sees a small person (body 0.6 tile sides across) and, beside them, a big
    one (1.6 tile sides: only part of them shows). Levels 1 and 2 keep both; level 3 (people under ~15 % of the
    frame) keeps only the small one: a bigger person is the coarser passes' to find."""
    from posecli.detect.detector import Detection, PersonDetector

    def person(tile, across, dx):
        # head boxes apart from every other tile's, also where tiles of two levels share a centre
        hip = np.array([tile.cx + dx, tile.cy + 3000 / tile.size])
        return Detection(0.9, np.r_[hip - 0.5, hip + 0.5], np.array([hip, hip - [0, across * tile.size / 2], hip, hip]))

    class Fake(PersonDetector):
        def __init__(self):
            self.nms_iou = 0.3

        def _detect_in(self, image, regions):
            return [[person(r, 0.6, 0.0), person(r, 1.6, 0.1 * r.size)] for r in regions]

    image = np.zeros((540, 960, 3), np.uint8)
    counts = [len(Fake().detect(image, tiled=True, levels=levels)) for levels in (1, 2, 3)]
    n = [len(tile_rois(960, 540, level)) for level in (1, 2, 3)]
    whole = 2  # the letterboxed whole image's pass: one small person and one big at its centre
    assert counts == [whole + 2 * n[0], whole + 2 * (n[0] + n[1]), whole + 2 * (n[0] + n[1]) + n[2]]

# ---------------------------------------------------------------- models

@pytest.fixture(scope="module")
def pose():
    return BlazePoseMulti()


def test_model_files_come_from_mediapipe():
    assert models.model_path(models.DETECTOR_FILE).name == "pose_detection.tflite"
    assert models.model_path(models.LANDMARK_FILE).name == "pose_landmark_full.tflite"


def test_missing_mediapipe_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PoseCliError, match="mediapipe.*not installed.*pip install mediapipe"):
        models.model_path(models.DETECTOR_FILE)


def test_detector_forward_pass_on_small_images(pose):
    gray = np.full((120, 160, 3), 128, dtype=np.uint8)
    assert pose.detector.detect(gray) == []
    noise = np.random.default_rng(2).integers(0, 256, size=(90, 70, 3), dtype=np.uint8)
    for det in pose.detector.detect(noise, tiled=True):  # usually none; any must be well-formed
        assert 0.5 <= det.score <= 1 and det.box.shape == (4,) and det.keypoints.shape == (4, 2)
    with pytest.raises(ValueError):
        pose.detector.detect(gray.astype(np.float32))


def test_landmark_forward_pass_shapes(pose):
    gray = np.full((200, 150, 3), 128, dtype=np.uint8)
    roi = Roi(75, 100, 180, 0.2)
    assert pose.landmarks.run(gray, roi) is None  # pose flag ~0 on a blank crop
    loose = LandmarkModel(min_score=0.0)
    p = loose.run(gray, roi)
    assert p.keypoints.shape == (33, 2) and p.z.shape == (33,) and p.world.shape == (33, 3)
    assert p.aux.shape == (2, 2) and p.box.shape == (4,) and p.roi == roi
    assert 0 <= p.score < 0.5
    assert np.all((p.visibility >= 0) & (p.visibility <= 1)) and np.all((p.presence >= 0) & (p.presence <= 1))


# ---------------------------------------------------------------- real videos

def _frame(relpath: str, index: int) -> np.ndarray:
    av = pytest.importorskip("av")
    path = VIDEOS / relpath
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    pytest.skip(f"{path} has fewer than {index + 1} frames")


def _legacy_landmarks(image):
    """mediapipe's legacy single-person API on one image: (33, 2) pixels and (33, 3) world, or None."""
    mp_pose = pytest.importorskip("mediapipe.python.solutions.pose")
    with mp_pose.Pose(static_image_mode=True, model_complexity=1) as legacy:
        res = legacy.process(image)
    if res.pose_landmarks is None:
        return None
    h, w = image.shape[:2]
    px = np.array([[lm.x * w, lm.y * h] for lm in res.pose_landmarks.landmark])
    world = np.array([[lm.x, lm.y, lm.z] for lm in res.pose_world_landmarks.landmark])
    return px, world


@needs_videos
def test_single_person_matches_mediapipe_legacy_api(pose):
    image = _frame("pose2sim_single/cam01.mp4", 0)
    people = pose.process(image)
    assert len(people) == 1
    person = people[0]
    assert person.score > 0.9
    legacy = _legacy_landmarks(image)
    assert legacy is not None
    px, world = legacy
    h = image.shape[0]
    err = np.linalg.norm(person.keypoints - px, axis=1)
    assert err.mean() < 0.005 * h and err.max() < 0.02 * h, (err.mean(), err.max())
    assert np.abs(person.world - world).mean() < 0.02  # metres; needs the ROI rotation applied
    # plain (untiled) detection gives the same person, so tiling changes nothing here
    assert len(pose.detector.detect(image)) == 1


@needs_videos
def test_tracking_step_follows_the_person(pose):
    first = pose.process(_frame("pose2sim_single/cam01.mp4", 0))[0]
    nxt = _frame("pose2sim_single/cam01.mp4", 1)
    tracked = pose.track_step(nxt, [roi_from_landmarks(first)])
    assert len(tracked) == 1 and tracked[0] is not None
    detected = pose.process(nxt)[0]
    assert np.linalg.norm(tracked[0].keypoints - detected.keypoints, axis=1).mean() < 0.01 * nxt.shape[0]


@needs_videos
def test_two_people_found(pose):
    image = _frame("pose2sim_multi/cam01.mp4", 0)
    people = pose.process(image)
    assert len(people) == 2
    assert box_iou(people[0].box, people[1].box)[0, 0] < 0.3
    assert len(pose.process(image, max_persons=1)) == 1


@needs_videos
def test_sports2d_walker_found(pose):
    image = _frame("sports2d/demo.mp4", 100)
    people = pose.process(image)
    assert len(people) >= 1
    dets = pose.detector.detect(image)
    assert roi_from_detection(dets[0]).size > 0


def test_decode_synthetic_anchor_outputs():
    from posecli.detect.anchors import generate_anchors
    from posecli.detect.detector import decode

    anchors = generate_anchors()
    raw = np.zeros((1, len(anchors), 12), np.float32)
    logits = np.full((1, len(anchors), 1), -50.0, np.float32)
    k = 1000
    raw[0, k, :4] = [22.4, -11.2, 44.8, 89.6]  # centre offset (+0.1, -0.05), size (0.2, 0.4) of the 224 input
    raw[0, k, 4:6] = [0.0, 22.4]  # keypoint 0: 0.1 below the anchor centre
    logits[0, k] = 2.0
    scores, boxes, kps = decode(raw, logits, anchors)
    assert scores.shape == (1,) and scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    cx, cy = anchors[k, 0] + 0.1, anchors[k, 1] - 0.05
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.2, cx + 0.1, cy + 0.2], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [anchors[k, 0], anchors[k, 1] + 0.1], atol=1e-6)
    logits[0, k] = 300.0  # clipped to +-100 before the sigmoid: no overflow, score 1
    assert decode(raw, logits, anchors)[0][0] == pytest.approx(1.0)
