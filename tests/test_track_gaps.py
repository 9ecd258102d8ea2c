"""`track --fill-gaps`: a person hidden for a moment keeps a place in every frame of their track, marked not seen."""
import numpy as np
from test_track_identity import skeleton

from posecli import joints
from posecli.poses import BOXES, KEYPOINTS_2D, Keypoints, Track
from posecli.track.gaps import FILLED, FILLED_CONFIDENCE, fill_gaps
from posecli.track.pipeline import TrackOptions, track_video
from posecli.video import VideoWriter


def _walker(frames, x0=100.0, speed=4.0, height=160.0):
    """A COCO-17 track walking right at ``speed`` px per frame, seen (confidence 0.9) on ``frames``."""
    frames = np.asarray(frames)
    pts = np.stack([joints.convert(skeleton(x0 + speed * f, 20, height)[None], np.ones((1, 33)), "blazepose33",
                                   "coco17")[0][0] for f in frames])
    conf = np.full(pts.shape[:2], 0.9, np.float32)
    boxes = np.concatenate([pts.min(1), pts.max(1)], axis=1)
    return Track(1, frames, frames / 30.0, {KEYPOINTS_2D: Keypoints("coco17", pts, conf)},
                 {BOXES: boxes, "score": np.full(len(frames), 0.99, np.float32)})


def test_a_short_gap_is_filled_on_the_line_between_its_ends_and_marked_unseen():
    seen = [*range(0, 10), *range(16, 30)]
    walker = _walker(seen)
    filled = fill_gaps(walker, max_gap=10, step=1, width=640, height=480)
    assert len(walker) == len(seen) and FILLED not in walker.arrays  # the input is left as it was
    truth = _walker(range(30))
    assert filled.frames.tolist() == list(range(30))
    hole = np.isin(filled.frames, range(10, 16))
    assert filled.arrays[FILLED].tolist() == hole.astype(int).tolist()
    # a steady walk: the straight line between the gap's ends is where the person was
    np.testing.assert_allclose(filled.keypoints[KEYPOINTS_2D].points, truth.keypoints[KEYPOINTS_2D].points, atol=1e-3)
    np.testing.assert_allclose(filled.arrays[BOXES], truth.arrays[BOXES], atol=1e-3)
    np.testing.assert_allclose(filled.times, np.arange(30) / 30.0)
    conf = filled.keypoints[KEYPOINTS_2D].confidence
    assert (conf[hole] == FILLED_CONFIDENCE).all() and (conf[~hole] == 0.9).all()
    assert (filled.arrays["score"][hole] == 0).all() and (filled.arrays["score"][~hole] > 0.9).all()
    # the data model still sees the person there (confidence 0 would mean "no joint"), never as seen (>= 0.3)
    pts, c = joints.convert(filled.keypoints[KEYPOINTS_2D].points, conf, "coco17", "coco17")
    assert np.isfinite(pts[hole]).all() and (c[hole] < 0.3).all()
    filled.validate()


def test_no_gap_is_filled_when_too_long_across_a_cut_or_where_the_person_may_have_left():
    seen = [*range(0, 10), *range(21, 30)]  # 11 frames missing
    assert len(fill_gaps(_walker(seen), max_gap=10, step=1, width=640, height=480)) == len(seen)
    assert len(fill_gaps(_walker(seen), max_gap=11, step=1, width=640, height=480)) == 30
    # a shot cut inside the gap: the other side is another camera's view
    assert len(fill_gaps(_walker(seen), max_gap=11, step=1, width=640, height=480, cuts=[15])) == len(seen)
    # walking out of the right edge and back: the line between would keep them inside the picture
    near_edge = _walker(seen, x0=620.0, speed=0.0)
    assert (near_edge.keypoints[KEYPOINTS_2D].points[..., 0].max(-1) > 640 - 0.01 * 480).all()
    assert len(fill_gaps(near_edge, max_gap=11, step=1, width=640, height=480)) == len(seen)


def test_with_every_n_frames_gaps_are_counted_in_processed_frames():
    seen = [0, 3, 6, 18, 21]  # --every 3: frames 9, 12, 15 missing
    filled = fill_gaps(_walker(seen), max_gap=3, step=3, width=640, height=480)
    assert filled.frames.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    assert len(fill_gaps(_walker(seen), max_gap=2, step=3, width=640, height=480)) == 5


def test_track_fills_a_hidden_moment_only_when_asked(tmp_path):
    from posecli.track.backends import Person, PoseBackend

    video = tmp_path / "walk.mp4"
    with VideoWriter(video, fps=30) as w:
        for _ in range(30):
            w.write(np.full((240, 320, 3), 90, np.uint8))

    class Scripted(PoseBackend):
        name = "scripted"
        joint_set = "blazepose33"

        def __init__(self):
            self.frame = -1

        def persons(self, image):
            self.frame += 1
            hidden = 12 <= self.frame < 18
            return [] if hidden else [Person(skeleton(60 + 4 * self.frame, 20, 180), np.full(33, 0.95))]

    plain = track_video(video, Scripted(), TrackOptions(min_frames=1, sides=False, cuts=False))
    assert [len(t) for t in plain.tracks] == [24] and FILLED not in plain.tracks[0].arrays
    filled = track_video(video, Scripted(), TrackOptions(min_frames=1, sides=False, cuts=False, fill_gaps=0.5))
    (t,) = filled.tracks
    assert t.frames.tolist() == list(range(30)) and t.arrays[FILLED].sum() == 6
    assert filled.meta["fill_gaps_s"] == 0.5
    hips = t.keypoints[KEYPOINTS_2D].points[:, 11, 0]
    np.testing.assert_allclose(np.diff(hips), 4.0, atol=0.05)  # the walk goes on through the hidden frames
