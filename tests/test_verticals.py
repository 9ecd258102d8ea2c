"""The world's up from the scene's vertical lines (posecli.lifting.verticals / scene): drawn lines, real LSD."""
from pathlib import Path

import av
import cv2
import numpy as np

from posecli.lifting.scene import scene_verticals
from posecli.lifting.verticals import line_segments, vertical_up
from posecli.lifting.world import tilt_degrees
from posecli.poses import BOXES, KEYPOINTS_2D, Keypoints, Poses, Track

W, H, F = 640, 480, 600.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])


def camera_up(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The world's up in the axes of a camera (x right, y down, z forward) pitched down and rolled."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    up = np.array([0.0, -np.cos(p), np.sin(p)])  # looking down: up leans towards the optical axis
    c, s = np.cos(r), np.sin(r)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ up


def scene_image(up: np.ndarray, seed: int = 0, verticals: int = 14) -> np.ndarray:
    """A grey room: vertical edges (poles, door frames) along ``up``, floor lines across, noise."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 90, np.uint8)
    side = np.cross(up, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    depth = np.cross(side, up)
    ahead = np.array([0.0, 0.0, 1.0])  # things are placed around the optical axis, so a pitched camera sees them

    def draw(a: np.ndarray, b: np.ndarray, shade: int) -> None:
        pa, pb = K @ a, K @ b
        cv2.line(img, tuple(np.round(pa[:2] / pa[2]).astype(int)), tuple(np.round(pb[:2] / pb[2]).astype(int)),
                 shade, 3, cv2.LINE_AA)
    for _ in range(verticals):
        base = rng.uniform(-3, 3) * side + rng.uniform(5, 10) * ahead
        draw(base - rng.uniform(0.8, 1.5) * up, base + rng.uniform(0.8, 1.5) * up, int(rng.choice([20, 230])))
    for _ in range(6):  # floor lines: another family, which must not win
        a = rng.uniform(-3, 3) * side + rng.uniform(5, 10) * ahead - 1.0 * up
        draw(a, a + rng.uniform(1, 2) * side + rng.uniform(-1, 1) * depth, 200)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def test_drawn_vertical_lines_give_the_camera_pitch_and_roll():
    for pitch, roll in ((15, 5), (-8, -3), (30, 0)):
        up = camera_up(pitch, roll)
        segments = line_segments(scene_image(up))
        prior = camera_up(pitch + 12, roll - 6)  # a body-based guess 13 degrees off
        found, info = vertical_up(segments, K, prior, 1, float(np.hypot(W, H)))
        assert found is not None, info
        assert tilt_degrees(found, up) < 1.0, (pitch, roll, tilt_degrees(found, up), info)
        assert info["inliers"] >= 8 and info["support"] >= 0.5


def test_no_clear_verticals_or_a_far_prior_leave_the_body_up():
    up = camera_up(15, 5)
    diag = float(np.hypot(W, H))
    few = line_segments(scene_image(up, verticals=3))
    assert vertical_up(few, K, up, 1, diag)[0] is None  # three poles are not a scene
    many = line_segments(scene_image(up))
    assert vertical_up(many, K, camera_up(50, 5), 1, diag)[0] is None  # 35 degrees from the body: rejected
    blank = line_segments(np.full((H, W), 90, np.uint8))
    assert len(blank) == 0 and vertical_up(blank, K, up, 1, diag)[0] is None


def test_lines_on_people_are_masked():
    up = camera_up(10, 0)
    img = scene_image(up)
    all_segments = line_segments(img)
    masked = line_segments(img, np.array([[0, 0, W, H]], float))
    assert len(all_segments) >= 8 and len(masked) == 0


def test_scene_verticals_reads_the_source_video(tmp_path: Path):
    up = camera_up(20, 4)
    img = scene_image(up)
    path = tmp_path / "room.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for _ in range(30):
            frame = av.VideoFrame.from_ndarray(np.repeat(img[..., None], 3, -1), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    n = 30
    track = Track(1, np.arange(n), np.arange(n) / 30, {KEYPOINTS_2D: Keypoints(
        "coco17", np.full((n, 17, 2), 300.0, np.float32), np.ones((n, 17), np.float32))},
        {BOXES: np.tile(np.array([[280, 100, 360, 400]], np.float32), (n, 1))})
    poses = Poses([track], fps=30, width=W, height=H, num_frames=n, source=str(path))
    scene = scene_verticals(poses, F)
    found, info = scene(camera_up(30, 0))
    assert found is not None and tilt_degrees(found, up) < 1.5, info
    moved = Poses([track], fps=30, width=W, height=H, num_frames=n, source=str(tmp_path / "gone.mp4"))
    assert scene_verticals(moved, F) is None  # the video is not where the pose file says: no scene cue


def test_estimate_says_when_the_video_is_gone():
    """A pose file moved away from its video: the world frame comes from the body and the meta says why."""
    from posecli.lifting.pipeline import estimate_poses
    from posecli.track.backends import BlazePoseBackend
    from posecli.track.pipeline import TrackOptions, track_video
    from posecli.weights_registry import weight_path

    example = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"
    poses = track_video(example, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, end=12))
    here = estimate_poses(poses, weight_path("estimate")).meta["world"]
    assert here["up_source"] == "scene verticals" and here["verticals"]["inliers"] >= 8
    poses.source = "/nowhere/balance_cam01.mp4"
    gone = estimate_poses(poses, weight_path("estimate")).meta["world"]
    assert gone["up_source"] == "body" and "not a video readable" in gone["verticals"]["skipped"]
    assert gone["up_camera"] == gone["up_body"]
    off = estimate_poses(poses, weight_path("estimate"), verticals=False).meta["world"]
    assert "verticals" not in off and off["up_camera"] == gone["up_camera"]
