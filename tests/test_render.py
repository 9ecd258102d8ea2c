"""``render``: skeletons land on the joints, meshes where the pinhole camera puts them, stills and videos are
written (atomically), bad inputs give one line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from helpers import FPS, H, TOL, W, gray, make_video

from posecli import joints
from posecli.cli import main
from posecli.formats import write_poses
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from posecli.render.bodies import RootSpheres
from posecli.render.draw import track_colour
from posecli.render.mesh import blend
from posecli.render.overlay import Overlay, camera_for
from posecli.video import probe, read_frames

ROOT = Path(__file__).resolve().parents[1]
FRAMES = [1, 2, 4]  # the track is seen in these frames of a 6-frame video
FOCAL = 80.0


def figure_2d(shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A COCO-17 stick figure in pixels of the 96x64 test video; the left ear is unseen (NaN, confidence 0)."""
    names = joints.get("coco17").joints
    spots = {"nose": (48, 10), "left_eye": (50, 9), "right_eye": (46, 9), "right_ear": (44, 10),
             "left_shoulder": (56, 18), "right_shoulder": (40, 18), "left_elbow": (62, 26), "right_elbow": (34, 26),
             "left_wrist": (66, 34), "right_wrist": (30, 34), "left_hip": (53, 36), "right_hip": (43, 36),
             "left_knee": (54, 46), "right_knee": (42, 46), "left_ankle": (55, 56), "right_ankle": (41, 56)}
    points = np.full((17, 2), np.nan, np.float32)
    for name, xy in spots.items():
        points[names.index(name)] = xy
    points[:, 0] += shift
    return points, np.isfinite(points).all(1).astype(np.float32)


def make_poses(with_3d: bool = True) -> Poses:
    pts, conf = figure_2d()
    kp2 = Keypoints("coco17", np.repeat(pts[None], len(FRAMES), 0), np.repeat(conf[None], len(FRAMES), 0))
    layers = {KEYPOINTS_2D: kp2}
    arrays = {}
    if with_3d:  # a figure 2 m away whose pelvis projects to (48, 36)
        z = 2.0
        root = np.array([(48 - W / 2) * z / FOCAL, (36 - H / 2) * z / FOCAL, z], np.float32)
        rel = np.array([[0, 0, 0], [-0.1, 0, 0], [-0.1, 0.4, 0], [-0.1, 0.8, 0], [0.1, 0, 0], [0.1, 0.4, 0],
                        [0.1, 0.8, 0], [0, -0.25, 0], [0, -0.5, 0.05], [0, -0.6, 0], [0, -0.7, 0],
                        [0.18, -0.48, 0], [0.2, -0.2, 0.1], [0.22, 0.05, 0.2], [-0.18, -0.48, 0],
                        [-0.2, -0.2, -0.1], [-0.22, 0.05, -0.2]], np.float32)
        p3 = np.repeat((rel + root)[None], len(FRAMES), 0)
        layers[KEYPOINTS_3D] = Keypoints("h36m17", p3)
        arrays["root"] = np.repeat(root[None], len(FRAMES), 0)
    track = Track(3, FRAMES, np.array(FRAMES) / FPS, layers, arrays)
    meta = {"focal_px": FOCAL} if with_3d else {}
    return Poses([track], fps=FPS, width=W, height=H, num_frames=6, meta=meta)


@pytest.fixture
def clip(tmp_path) -> tuple[Path, Path]:
    video = make_video(tmp_path / "v.mp4", n=6)
    poses = tmp_path / "p.npz"
    write_poses(make_poses(), poses)
    return video, poses


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def distance_to_figure(points: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """(H, W) distance of every pixel centre (OpenCV's convention: integer = centre) to the drawn figure."""
    js = joints.get("coco17")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    best = np.full((H, W), np.inf, np.float32)
    for a, b in js.edges:
        if conf[a] > 0 and conf[b] > 0:
            pa, pb = points[a], points[b]
            d = pb - pa
            t = np.clip(((xx - pa[0]) * d[0] + (yy - pa[1]) * d[1]) / (d @ d), 0, 1)
            best = np.minimum(best, np.hypot(xx - pa[0] - t * d[0], yy - pa[1] - t * d[1]))
    for x, y in points[conf > 0]:
        best = np.minimum(best, np.hypot(xx - x, yy - y))
    return best


# ---- the skeleton overlay ----

def test_skeleton_changes_pixels_exactly_where_the_figure_projects():
    poses = make_poses(with_3d=False)
    overlay = Overlay(poses, camera_for(poses, (W, H)), labels=False)
    base = gray(1)
    out = overlay.draw(base, 1)
    assert np.array_equal(base, gray(1)), "the decoded frame must not be drawn on"
    changed = (out != base).any(-1)
    pts, conf = figure_2d()
    for x, y in pts[conf > 0]:
        assert changed[int(y), int(x)], f"joint at ({x}, {y}) not drawn"
    near = distance_to_figure(pts, conf)
    assert near[changed].max() <= 3.5  # joint dots have radius 2; anti-aliasing spills up to 1.5 px
    assert (changed[near <= 0.5]).mean() > 0.95  # and the bones themselves are drawn along their length
    ear = pts[joints.get("coco17").joints.index("left_ear")]
    assert np.isnan(ear).all()
    # the track's colour marks the joints; frames where the track is absent stay untouched
    nose = pts[0].astype(int)
    assert np.abs(out[nose[1], nose[0]].astype(int) - track_colour(3)).max() < 40
    assert np.array_equal(overlay.draw(gray(0), 0), gray(0))


def test_a_frame_filled_in_where_the_person_was_hidden_is_drawn_faint():
    from posecli.poses import FILLED
    from posecli.render.overlay import FILLED_OPACITY

    poses = make_poses(with_3d=False)
    poses.tracks[0].arrays[FILLED] = np.array([0, 1, 0], np.uint8)  # frame 2 placed, not seen (track --fill-gaps)
    overlay = Overlay(poses, camera_for(poses, (W, H)), labels=False)
    seen, placed = overlay.draw(gray(1), 1).astype(int), overlay.draw(gray(2), 2).astype(int)
    nose = figure_2d()[0][0].astype(int)
    colour, background = np.array(track_colour(3)), gray(2)[nose[1], nose[0]].astype(int)
    assert np.abs(seen[nose[1], nose[0]] - colour).max() < 40
    expected = FILLED_OPACITY * colour + (1 - FILLED_OPACITY) * background
    assert np.abs(placed[nose[1], nose[0]] - expected).max() <= 2
    assert ((placed != background).any(-1) == (seen != gray(1)[nose[1], nose[0]]).any(-1)).mean() > 0.97


def test_label_and_scaled_output():
    poses = make_poses(with_3d=False)
    overlay = Overlay(poses, camera_for(poses, (W, H), scale=2.0))
    out = overlay.draw(gray(2), 2)
    assert out.shape == (2 * H, 2 * W, 3)
    changed = (out != cv2.resize(gray(2), (2 * W, 2 * H))).any(-1)
    pts, _ = figure_2d()
    assert changed[int(pts[16, 1] * 2), int(pts[16, 0] * 2)]  # right ankle, at twice the coordinates
    assert changed[: int(pts[1, 1] * 2) - 4].any()  # the id label above the head


def test_pose_file_of_a_resized_copy_is_scaled_to_the_video():
    poses = make_poses()
    poses.width, poses.height = 2 * W, 2 * H  # made on a video twice as big
    cam = camera_for(poses, (W, H), scale=0.5)
    assert (cam.width, cam.height, cam.sx, cam.sy) == (W // 2, H // 2, 0.25, 0.25)
    assert (cam.focal, cam.cx, cam.cy) == (FOCAL / 4, W / 4, H / 4)  # the centre of the output


def test_side_panel_shows_the_3d_skeleton_beside_the_frame():
    poses = make_poses()
    overlay = Overlay(poses, camera_for(poses, (W, H)), side=True, labels=False, side_layout="beside")
    out = overlay.draw(gray(4), 4)
    assert out.shape == (H, 2 * W, 3)
    panel = out[:, W:]
    drawn = (np.abs(panel.astype(int) - 40) > 10).any(-1)
    drawn[:12] = False  # the "side view" title
    ys, xs = np.nonzero(drawn)
    # turned about the root, which stays where it projects (48, 36): the figure is centred there
    assert abs(np.median(xs) - 48) < 6 and ys.min() < 25 and ys.max() > 48
    # the wrists lie 0.4 m apart in depth, so from the side they are far apart left-right
    assert xs.max() - xs.min() > 0.3 * FOCAL / 2


def test_side_panel_inset_keeps_the_frame_size_and_shows_the_same_view_smaller():
    poses = make_poses()
    beside = Overlay(poses, camera_for(poses, (W, H)), side=True, labels=False, side_layout="beside")
    inset = Overlay(poses, camera_for(poses, (W, H)), side=True, labels=False)  # the default
    out = inset.draw(gray(4), 4)
    assert out.shape == (H, W, 3) and inset.output_size == (W, H) and beside.output_size == (2 * W, H)
    plain = Overlay(poses, camera_for(poses, (W, H)), labels=False).draw(gray(4), 4)
    changed = (out != plain).any(-1)
    ys, xs = np.nonzero(changed)
    # only the bottom-right corner changes (the panel, 40 % of each side, and its frame)
    assert xs.min() >= W - round(0.4 * W) - 4 and ys.min() >= H - round(0.4 * H) - 4
    # the panel holds the side view: the same picture as beside, at 0.4 of the size
    big = beside.draw(gray(4), 4)[:, W:]
    small = cv2.resize(big, (round(0.4 * W), round(0.4 * H)), interpolation=cv2.INTER_AREA)
    ph, pw = small.shape[:2]
    margin = max(2, round(0.02 * min(H, W)))
    region = out[H - ph - margin:H - margin, W - pw - margin:W - margin].astype(float)
    assert np.corrcoef(region.ravel(), small.astype(float).ravel())[0, 1] > 0.5


# ---- the mesh renderer ----

# ``renderer`` (a 160x120 MeshRenderer, f = 100 px, centre (80, 60)) comes from conftest.py.


def silhouette(centre: np.ndarray, radius: float, focal: float, c: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Exact pinhole outline of a sphere: the circle where the tangent cone from the camera touches it,
    projected; returns its centroid and the radius of the circle of the same area (pixels)."""
    d = np.linalg.norm(centre)
    n = centre / d
    rim_c, rim_r = centre * (1 - radius**2 / d**2), radius * np.sqrt(1 - radius**2 / d**2)
    a = np.cross(n, [0, 0, 1.0]) if abs(n[2]) < 0.99 else np.cross(n, [1.0, 0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)[:, None]
    rim = rim_c + rim_r * (np.cos(t) * a + np.sin(t) * b)
    uv = focal * rim[:, :2] / rim[:, 2:] + np.array(c)
    x, y = uv[:, 0], uv[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    cx = ((x + np.roll(x, -1)) * cross).sum() / (6 * area)
    cy = ((y + np.roll(y, -1)) * cross).sum() / (6 * area)
    return np.array([cx, cy]), float(np.sqrt(abs(area) / np.pi))


@pytest.mark.parametrize("centre", [(0.0, 0.0, 2.0), (0.2, -0.1, 2.0), (-0.5, 0.3, 2.5)])
def test_sphere_silhouette_matches_the_pinhole_projection(renderer, centre):
    sphere = trimesh.creation.icosphere(5, 0.3)
    c = np.array(centre)
    rgb, depth = renderer.render([(sphere.vertices + c, sphere.faces, (230, 159, 0))])
    mask = depth > 0
    ys, xs = np.nonzero(mask)
    got = np.array([xs.mean(), ys.mean()]) + 0.5  # pixel i covers [i, i + 1)
    want, radius = silhouette(c, 0.3, 100.0, (80.0, 60.0))
    assert np.abs(got - want).max() < 1.0
    assert abs(np.sqrt(mask.sum() / np.pi) - radius) < 1.0
    assert abs(depth[mask].min() - (c[2] - 0.3)) < 0.01  # depth is z, the sphere's nearest z is Z - R
    # lit in its colour: orange has more red than blue
    assert (rgb[mask, 0].astype(int) > rgb[mask, 2]).mean() > 0.9


def test_two_people_two_meshes_nearer_in_front(renderer):
    sphere = trimesh.creation.icosphere(4, 0.3)
    near, far = np.array([0.0, 0, 2.0]), np.array([0.6, 0, 4.0])  # images: r 15 px at x 80, r 7.5 px at x 95
    rgb, depth = renderer.render([(sphere.vertices + far, sphere.faces, (0, 0, 255)),
                                  (sphere.vertices + near, sphere.faces, (255, 0, 0))])
    assert depth[60, 90] < 2.0 and rgb[60, 90, 0] > rgb[60, 90, 2]  # both cover it: the near (red) one wins
    assert depth[60, 100] > 3.5 and rgb[60, 100, 2] > rgb[60, 100, 0]  # only the far (blue) one
    assert renderer.render([])[1].max() == 0  # nothing to draw: an empty depth map, and no crash


def test_blend_only_where_there_is_a_surface():
    image = np.full((4, 4, 3), 100, np.uint8)
    rgb = np.full((4, 4, 3), 200, np.uint8)
    depth = np.zeros((4, 4), np.float32)
    depth[1, 2] = 3.0
    blend(image, rgb, depth, opacity=0.75)
    assert image[1, 2].tolist() == [175, 175, 175] and (image.sum(-1) == 300).sum() == 15


def test_mesh_overlay_puts_the_body_stand_in_on_the_root(renderer):
    poses = make_poses()
    with Overlay(poses, camera_for(poses, (W, H)), meshes=RootSpheres(0.15), labels=False) as overlay:
        out = overlay.draw(gray(1), 1)
        skeleton_only = Overlay(poses, camera_for(poses, (W, H)), labels=False).draw(gray(1), 1)
    mesh_px = (out != skeleton_only).any(-1)
    ys, xs = np.nonzero(mesh_px)
    # a 0.15 m sphere 2 m away: radius ~6 px around the root's projection (48, 36); the skeleton is on top
    assert abs(np.median(xs) - 48) <= 1.5 and abs(np.median(ys) - 36) <= 1.5
    assert 30 < mesh_px.sum() < np.pi * 7**2


def test_half_size_meshes_land_where_full_size_ones_do(renderer):
    """Outputs over 960 px draw meshes at half size and scale them up: same place and size within a pixel."""
    poses = make_poses()
    big = camera_for(poses, (W, H), scale=12.0)  # 1152 x 864: over the threshold
    masks = []
    for scale in (None, 1.0):
        with Overlay(poses, big, meshes=RootSpheres(0.15), labels=False, mesh_scale=scale) as overlay:
            assert overlay.mesh_scale == (0.5 if scale is None else 1.0)
            assert overlay.renderer.width == round(big.width * overlay.mesh_scale)  # really drawn smaller
            out = overlay.draw(gray(1), 1)
        plain = Overlay(poses, big, labels=False).draw(gray(1), 1)
        masks.append((out != plain).any(-1))
    half, full = masks
    inter, union = (half & full).sum(), (half | full).sum()
    assert inter / union > 0.9
    ys_h, xs_h = np.nonzero(half)
    ys_f, xs_f = np.nonzero(full)
    assert abs(np.median(xs_h) - np.median(xs_f)) <= 1 and abs(np.median(ys_h) - np.median(ys_f)) <= 1


def test_gl_platform_choice_falls_back_and_fails_in_one_line():
    """In fresh processes (PyOpenGL fixes its platform at import): with a platform that cannot work first in the
    list the next one is used; with only unusable ones the error is a PoseCliError naming them."""
    code = ("import sys, posecli.render.mesh as m\n"
            "m.PLATFORMS = ('nonexistent',) + m.PLATFORMS\n"
            "try:\n    m.MeshRenderer(32, 24, 30, 16, 12).close(); print('ok', m.gl_platform())\n"
            "except m.PoseCliError as e:\n    print('error', e)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    if res.stdout.startswith("error"):
        pytest.skip(f"no headless OpenGL platform here: {res.stdout.strip()}")
    assert res.stdout.split() == ["ok", res.stdout.split()[1]] and res.stdout.split()[1] in ("egl", "osmesa")
    env["PYOPENGL_PLATFORM"] = "nonexistent"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert res.stdout.startswith("error no headless OpenGL platform works for mesh rendering (nonexistent:")
    assert len(res.stdout.strip().splitlines()) == 1


# ---- the command ----

def test_cli_frame_writes_a_png(clip, tmp_path, capsys):
    video, poses = clip
    out = tmp_path / "f.png"
    code, err = run(capsys, "render", video, poses, "--frame", 2, "-o", out, "--side", "--side-layout", "beside")
    assert code == 0, err
    assert "warning" not in err
    image = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert image.shape == (H, 2 * W, 3)
    pts, conf = figure_2d()
    frame2 = next(iter(read_frames(video, start=2, end=3))).image
    changed = (np.abs(image[:, :W].astype(int) - frame2) > 0).any(-1)
    assert all(changed[int(y), int(x)] for x, y in pts[conf > 0])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.")] == []  # no temporary file left
    code, err = run(capsys, "render", video, poses, "--frame", 0, "-o", tmp_path / "g.png", "--height", 32)
    assert code == 0 and cv2.imread(str(tmp_path / "g.png")).shape == (32, 48, 3)
    # frame 0 is before the track (frames 1-4): written, with one warning naming the tracks' frames
    assert "nobody was tracked in frame 0 (track 3: 1-4)" in err and len(err.strip().splitlines()) == 2


def test_cli_video_draws_on_the_tracked_frames_only(clip, tmp_path, capsys):
    video, poses = clip
    out = tmp_path / "o.mp4"
    code, err = run(capsys, "render", video, poses, "-o", out)
    assert code == 0, err
    assert probe(out).frames == 6 and (probe(out).width, probe(out).height) == (W, H)
    pts, conf = figure_2d()
    hip = pts[joints.get("coco17").joints.index("left_hip")].astype(int)
    for frame in read_frames(out):
        diff = np.abs(frame.image[hip[1], hip[0]].astype(int) - gray(frame.index)[0, 0]).max()
        assert (diff > 3 * TOL) == (frame.index in FRAMES), frame.index
    code, err = run(capsys, "render", video, poses, "-o", tmp_path / "e.mp4", "--every", 2, "--start", 1)
    assert code == 0 and probe(tmp_path / "e.mp4").frames == 3


def test_cli_mesh_needs_a_body(clip, tmp_path, capsys):
    video, poses = clip
    code, err = run(capsys, "render", video, poses, "--frame", 1, "--mesh", "-o", tmp_path / "m.png")
    assert code == 1 and err.strip().splitlines() == [err.strip()]
    assert "the pose file has no body" in err and "--body anny" in err
    assert not (tmp_path / "m.png").exists()


class FakeBody:
    """Stands in for posecli.body (the real one fits Anny): a sphere around ``arrays["body_transl"]``."""

    def __init__(self):
        self.sphere = trimesh.creation.icosphere(3, 0.15)
        self.calls = []

    def body_faces(self, model_name, model_path=None):
        assert model_name == "fake"
        return self.sphere.faces

    def body_vertices(self, arrays, meta, device="cpu"):
        self.calls.append(len(arrays["body_transl"]))
        return self.sphere.vertices[None] + arrays["body_transl"][:, None]


@pytest.fixture
def fake_body(monkeypatch):
    import types

    body = FakeBody()
    module = types.ModuleType("posecli.body")
    module.body_faces, module.body_vertices = body.body_faces, body.body_vertices
    module.body_model_of = lambda meta: (meta["body"]["model"], None)
    module.NO_BODY_FIX = "run posecli estimate VIDEO -o poses.npz --body anny first"
    monkeypatch.setitem(sys.modules, "posecli.body", module)
    return body


def test_body_vertices_are_computed_in_chunks_as_the_video_reaches_them(fake_body):
    from posecli.render.bodies import CHUNK, BodyMeshes

    n = 2 * CHUNK + 2
    transl = np.stack([np.arange(n), np.zeros(n), np.full(n, 3.0)], 1).astype(np.float32)
    track = Track(1, np.arange(n), np.arange(n) / FPS, {}, {"body_pose": np.zeros((n, 3)), "body_transl": transl})
    bare = Track(2, [0], [0.0])
    meshes = BodyMeshes(Poses([track, bare], meta={"body": {"model": "fake"}}))
    for row in (0, 1, CHUNK - 1, CHUNK, n - 1, 5):
        v = meshes.vertices(track, row)
        assert np.allclose(v.mean(0), transl[row], atol=1e-5)
    assert fake_body.calls == [CHUNK, CHUNK, 2, CHUNK]  # going back re-computes: only one chunk is kept
    assert meshes.vertices(bare, 0) is None


def test_cli_mesh_draws_the_body_on_the_person(clip, tmp_path, capsys, fake_body, renderer):
    video, _ = clip
    poses = make_poses()
    poses.meta["body"] = {"model": "fake"}
    track = poses.tracks[0]
    track.arrays["body_pose"] = np.zeros((len(track), 3), np.float32)
    track.arrays["body_transl"] = track.arrays["root"]
    write_poses(poses, tmp_path / "body.npz")
    for name, flags in (("plain.png", []), ("mesh.png", ["--mesh", "--opacity", "1"])):
        code, err = run(capsys, "render", video, tmp_path / "body.npz", "--frame", 2, "-o", tmp_path / name, *flags)
        assert code == 0, err
    plain, mesh = (cv2.imread(str(tmp_path / n)).astype(int) for n in ("plain.png", "mesh.png"))
    ys, xs = np.nonzero((plain != mesh).any(-1))
    assert abs(np.median(xs) - 48) <= 1.5 and abs(np.median(ys) - 36) <= 1.5  # on the root's projection


def _no_2d(tmp: Path) -> Path:
    poses = make_poses()
    track = poses.tracks[0]
    track.keypoints.pop(KEYPOINTS_2D)
    write_poses(poses, tmp / "no2d.npz")
    return tmp / "no2d.npz"


def _only_2d(tmp: Path) -> Path:
    write_poses(make_poses(with_3d=False), tmp / "only2d.npz")
    return tmp / "only2d.npz"


@pytest.mark.parametrize("case, extra, expect", [
    ("missing video", [], "does not exist"),
    ("no 2d", [], "no 2D keypoints"),
    ("frame out of range", ["--frame", 6, "-o", "x.png"], "frame 6 is out of range: the video has 6 frames"),
    ("side without 3d", ["--side"], "--side needs 3D joints"),
    ("still to mp4", ["--frame", 1, "-o", "x.mp4"], "give -o NAME.png"),
    ("video to png", ["-o", "x.png"], "render one frame with --frame N, or give -o NAME.mp4"),
    ("video to gif", ["-o", "x.gif"], "cannot write a .gif video"),
    ("height and scale", ["--height", 32, "--scale", 0.5], "give one of them"),
    ("other aspect", [], "describes 96x64 frames but the video is 64x64"),
])
def test_bad_inputs_give_one_line(clip, tmp_path, capsys, case, extra, expect):
    video, poses = clip
    if case == "missing video":
        video = tmp_path / "nope.mp4"
    elif case == "no 2d":
        poses = _no_2d(tmp_path)
    elif case == "side without 3d":
        poses = _only_2d(tmp_path)
    elif case == "other aspect":
        video = make_video(tmp_path / "square.mp4", n=6, width=64, height=64)
    out = ["-o", tmp_path / "out.mp4"] if "-o" not in extra else []
    extra = [tmp_path / e if e in ("x.mp4", "x.png", "x.gif") else e for e in extra]
    code, err = run(capsys, "render", video, poses, *out, *extra)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("posecli: error:"), err
    assert expect in lines[0]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("out", "x.", ".out", ".x."))]
