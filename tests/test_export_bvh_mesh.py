"""BVH skeleton export (round trip through posecli's own BVH reader) and body mesh export (OBJ, glTF binary)."""
import json
import struct

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from posecli import joints
from posecli.cli import main
from posecli.errors import PoseCliError
from posecli.formats import read_poses, write_poses
from posecli.formats.axes import camera_to_y_up
from posecli.formats.bvh_export import continuous_euler
from posecli.formats.mesh_export import glb_bytes, obj_text, write_mesh
from posecli.mocap.bvh import read_bvh
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from posecli.render.bodies import RootSpheres

H36M = joints.H36M17
PARENTS = H36M.parents
FPS = 50.0

# A figure in the camera frame (x right, y down, z forward): directions of each bone at rest, and lengths.
_REST_CAM = {"right_hip": (-1, 0, 0), "left_hip": (1, 0, 0), "spine": (0, -1, 0), "thorax": (0, -1, 0),
             "neck_nose": (0.1, -1, -0.3), "head": (0, -1, 0.2), "left_shoulder": (1, -0.2, 0),
             "right_shoulder": (-1, -0.2, 0), "left_elbow": (1, 0, 0), "left_wrist": (1, 0, 0),
             "right_elbow": (-1, 0, 0), "right_wrist": (-1, 0, 0), "left_knee": (0, 1, 0),
             "left_ankle": (0, 1, 0), "right_knee": (0, 1, 0), "right_ankle": (0, 1, 0)}
_LENGTH = {"right_hip": 0.13, "left_hip": 0.13, "spine": 0.23, "thorax": 0.25, "neck_nose": 0.11,
           "head": 0.12, "left_shoulder": 0.15, "right_shoulder": 0.15, "left_elbow": 0.28, "right_elbow": 0.28,
           "left_wrist": 0.25, "right_wrist": 0.25, "left_knee": 0.45, "right_knee": 0.45, "left_ankle": 0.44,
           "right_ankle": 0.44}


def synthetic_motion(n=120, seed=0, length_noise=0.0, amplitude=1.0):
    """(n, 17, 3) camera-frame H36M-17 motion built by our own forward kinematics: every bone turns smoothly
    about all three axes of its parent's frame (so limbs twist, and the pelvis and thorax triangles deform),
    the root walks in a circle 3 m in front of the camera, turns twice around and bobs. ``length_noise``
    scales each bone by a per-frame factor to imitate an estimator's varying bone lengths."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    world = {}
    pts = np.zeros((n, 17, 3))
    pts[:, 0] = np.stack([0.8 * np.sin(t), -0.1 * np.abs(np.sin(3 * t)), 3 + 0.8 * np.cos(t)], -1)
    yaw = 4 * np.pi * t / t[-1]
    world["pelvis"] = Rotation.from_euler("yx", np.stack([yaw, 0.3 * np.sin(2 * t)], -1)).as_matrix()
    for j, name in enumerate(H36M.joints):
        if j == 0:
            continue
        parent = H36M.joints[PARENTS[j]]
        freq, phase = rng.uniform(0.5, 3, 3), rng.uniform(0, 2 * np.pi, 3)
        rotvec = amplitude * rng.uniform(0.2, 0.9, 3) * np.sin(freq * t[:, None] + phase)
        world[name] = world[parent] @ Rotation.from_rotvec(rotvec).as_matrix()
        rest = np.asarray(_REST_CAM[name], float)
        bone = _LENGTH[name] * rest / np.linalg.norm(rest)
        scale = 1 + length_noise * rng.uniform(-1, 1, (n, 1))
        pts[:, j] = pts[:, PARENTS[j]] + scale * np.einsum("tij,j->ti", world[parent], bone)
    return pts


def make_poses(points3d, frames=None, with_all=None, tracks=1):
    frames = np.arange(len(points3d)) if frames is None else np.asarray(frames)
    out = []
    for tid in range(1, tracks + 1):
        conf = np.where(np.isnan(points3d).any(-1), 0.0, 1.0)
        layers = {KEYPOINTS_3D: Keypoints("h36m17", points3d, conf)}
        arrays = {} if with_all is None else {"keypoints3d_all": np.asarray(with_all, np.float32)}
        out.append(Track(tid, frames, frames / FPS, layers, arrays))
    return Poses(out, fps=FPS, width=640, height=480, num_frames=int(frames[-1]) + 1)


def bvh_positions(path):
    """(T, 17, 3) H36M-17 positions of a BVH file by posecli's reader and FK, in the file's Y-up world."""
    bvh = read_bvh(path)
    return bvh, bvh.positions()[:, [bvh.index(n) for n in H36M.joints]]


def bone_angles_deg(a, b):
    """(T, 16) angle between each bone of two H36M-17 motions."""
    child = np.arange(1, 17)
    u = a[:, child] - a[:, list(PARENTS[1:])]
    v = b[:, child] - b[:, list(PARENTS[1:])]
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


# ------------------------------------------------------------------------------------------------- BVH

def test_bvh_round_trip_reproduces_joint_positions(tmp_path):
    pts = synthetic_motion()
    write_poses(make_poses(pts.astype(np.float32)), tmp_path / "m.bvh")  # format from the extension
    bvh, got = bvh_positions(tmp_path / "m.bvh")
    want = camera_to_y_up(pts.astype(np.float32))
    err = np.linalg.norm(got - want, axis=-1)
    assert err.max() < 2e-5, f"max joint error {err.max() * 1e3:.4f} mm"
    assert bvh.n_frames == len(pts) and bvh.fps == pytest.approx(FPS, rel=1e-6)
    assert bvh.names[0] == "pelvis" and bvh.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert {"head_End", "left_wrist_End", "right_ankle_End", "left_clavicle", "right_pelvis"} <= set(bvh.names)
    # All channels zero is the documented T-pose: facing +z, left on +x, arms level, legs down, head up.
    rest = bvh.rest_positions()
    pos = {n: rest[bvh.index(n)] for n in ("pelvis", "left_wrist", "right_wrist", "head", "left_ankle")}
    assert pos["left_wrist"][0] > 0.5 and pos["right_wrist"][0] < -0.5
    assert abs(pos["left_wrist"][1] - pos["right_wrist"][1]) < 1e-6 and pos["head"][1] > 0.6
    assert pos["left_ankle"][1] < -0.8 and rest[bvh.index("left_ankle_End")][2] > 0.1


def test_bvh_of_an_edited_video_takes_each_shots_upright_frame(tmp_path):
    """An edited video has one upright world per shot (``estimate``'s ``world["shots"]``, each shot's camera):
    the export turns each frame by its own shot's rotation and lifts it by that shot's floor."""
    from posecli.formats.axes import y_up

    pts = synthetic_motion(40).astype(np.float32)
    tilt = Rotation.from_euler("x", 30, degrees=True).as_matrix()
    shots = [{"first_frame": 0, "last_frame": 19, "rotation": np.eye(3).tolist(), "floor_below_camera_m": {"1": 1.5}},
             {"first_frame": 20, "last_frame": 39, "rotation": tilt.tolist(), "floor_below_camera_m": {"1": 0.5}}]
    poses = make_poses(pts)
    poses.meta["world"] = {"shots": shots}
    write_poses(poses, tmp_path / "m.bvh")
    _, got = bvh_positions(tmp_path / "m.bvh")
    want = np.concatenate([pts[:20] + [0, 1.5, 0], pts[20:] @ tilt.T + [0, 0.5, 0]])
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(y_up(pts, poses.meta, 1) - camera_to_y_up(pts)).max() == 0  # no frames given: the camera's axes


def test_bvh_keeps_bone_directions_when_lengths_vary(tmp_path):
    pts = synthetic_motion(seed=3, length_noise=0.15) + np.random.default_rng(1).normal(0, 0.005, (120, 17, 3))
    write_poses(make_poses(pts.astype(np.float32)), tmp_path / "m.bvh", "bvh")
    bvh, got = bvh_positions(tmp_path / "m.bvh")
    want = camera_to_y_up(pts.astype(np.float32))
    assert bone_angles_deg(got, want).max() < 1e-3
    np.testing.assert_allclose(got[:, 0], want[:, 0], atol=1e-5)  # the root is placed exactly
    lengths = np.linalg.norm(bvh.offsets[[bvh.index(n) for n in H36M.joints[1:]]], axis=-1)
    measured = np.linalg.norm(want[:, 1:] - want[:, list(PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.median(measured, axis=0), atol=2e-6)  # OFFSETs: median lengths


def test_bvh_angles_are_continuous_over_time(tmp_path):
    # Wide swings (every bone turning up to ~75 degrees about each axis of its parent) and two full turns of
    # the root: per-joint Euler orders keep away from gimbal lock, and the curves must not jump.
    pts = synthetic_motion(n=200, seed=1, amplitude=1.5)
    write_poses(make_poses(pts.astype(np.float32)), tmp_path / "m.bvh")
    bvh = read_bvh(tmp_path / "m.bvh")
    assert np.abs(np.diff(bvh.motion[:, 3:], axis=0)).max() < 20
    yaw = bvh.motion[:, bvh.channels[0].index("Yrotation")]  # root turn about the vertical
    assert np.ptp(yaw) > 600  # two turns stay unwrapped, not folded into +-180
    _, got = bvh_positions(tmp_path / "m.bvh")
    assert np.linalg.norm(got - camera_to_y_up(pts.astype(np.float32)), axis=-1).max() < 2e-5


def test_continuous_euler_decomposes_exactly():
    orders = ["ZXY", "XYZ", "YZX"]
    rot = Rotation.random(300, random_state=0).as_matrix().reshape(100, 3, 3, 3)
    deg = continuous_euler(rot, orders)
    for b, order in enumerate(orders):
        back = Rotation.from_euler(order, deg[:, b], degrees=True).as_matrix()
        np.testing.assert_allclose(back, rot[:, b], atol=1e-12)


def test_bvh_prefers_all_joints_array_and_fills_gaps(tmp_path):
    pts = synthetic_motion(n=40).astype(np.float32)
    seen = pts.copy()
    seen[5:9, 13] = np.nan  # left wrist unseen for 4 frames
    seen[20, 0] = np.nan  # pelvis unseen once
    write_poses(make_poses(seen, with_all=pts), tmp_path / "all.bvh")
    _, got = bvh_positions(tmp_path / "all.bvh")
    assert np.linalg.norm(got - camera_to_y_up(pts), axis=-1).max() < 2e-5

    write_poses(make_poses(seen), tmp_path / "interp.bvh")
    bvh = read_bvh(tmp_path / "interp.bvh")
    root = bvh.motion[:, :3]
    np.testing.assert_allclose(root[20], camera_to_y_up((pts[19, 0] + pts[21, 0]) / 2), atol=1e-5)
    np.testing.assert_allclose(np.delete(root, 20, 0), np.delete(camera_to_y_up(pts[:, 0]), 20, 0), atol=1e-5)

    # Missing frames inside the track are filled too; a regular stride (--every 2) sets the frame time.
    frames = np.array([0, 2, 4, 8, 10])
    write_poses(make_poses(pts[:5], frames=frames), tmp_path / "gaps.bvh")
    bvh = read_bvh(tmp_path / "gaps.bvh")
    assert bvh.n_frames == 6 and bvh.frame_time == pytest.approx(2 / FPS)
    np.testing.assert_allclose(bvh.motion[3, :3], camera_to_y_up((pts[2, 0] + pts[3, 0]) / 2), atol=1e-5)


def test_bvh_errors_are_one_line_and_leave_nothing(tmp_path):
    pts = synthetic_motion(n=10).astype(np.float32)
    flat = Poses([Track(1, np.arange(10), np.arange(10) / FPS,
                        {KEYPOINTS_2D: Keypoints("coco17", np.zeros((10, 17, 2)))})], fps=FPS)
    with pytest.raises(PoseCliError, match="has no 3D keypoints.*posecli estimate"):
        write_poses(flat, tmp_path / "x.bvh")
    with pytest.raises(PoseCliError, match="2 tracks.*--track"):
        write_poses(make_poses(pts, tracks=2), tmp_path / "x.bvh")
    never = pts.copy()
    never[:, 16] = np.nan
    with pytest.raises(PoseCliError, match="right_wrist has no 3D position"):
        write_poses(make_poses(never), tmp_path / "x.bvh")
    with pytest.raises(PoseCliError, match="--frame applies to --to obj only"):
        write_poses(make_poses(pts), tmp_path / "x.bvh", frame=3)
    assert list(tmp_path.iterdir()) == []


def test_bvh_through_the_cli(tmp_path, capsys):
    pts = synthetic_motion(n=20).astype(np.float32)
    write_poses(make_poses(pts, tracks=2), tmp_path / "p.npz")
    assert main(["export", str(tmp_path / "p.npz"), "--to", "bvh", "--track", "2", "-o",
                 str(tmp_path / "m.bvh"), "-q"]) == 0
    _, got = bvh_positions(tmp_path / "m.bvh")
    assert np.linalg.norm(got - camera_to_y_up(pts), axis=-1).max() < 2e-5
    assert main(["export", str(tmp_path / "p.npz"), "-o", str(tmp_path / "n.bvh")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posecli: error:") and "--track" in err[0]
    assert read_poses(tmp_path / "p.npz").tracks[1].id == 2  # the input is untouched


# ------------------------------------------------------------------------------------------------ meshes

def _mesh_sequence(n=6):
    """A deforming, moving icosphere in the camera frame: (n, V, 3) vertices and its faces."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    t = np.arange(n)[:, None, None]
    verts = sphere.vertices[None] * (1 + 0.1 * np.sin(t + sphere.vertices[None, :, :1] * 5))
    verts = verts + np.array([0.1, -0.2, 3.0]) + 0.05 * t * np.array([1.0, 0.5, 0.0])
    return verts.astype(np.float32), np.asarray(sphere.faces)


def parse_glb(data: bytes):
    """Our own reading of a GLB: JSON document and a function from accessor index to a numpy array."""
    magic, version, total = struct.unpack_from("<III", data, 0)
    assert (magic, version, total) == (0x46546C67, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20:20 + json_len])
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert (json_type, bin_type) == (0x4E4F534A, 0x004E4942) and json_len % 4 == 0 and bin_len % 4 == 0
    blob = data[28 + json_len:28 + json_len + bin_len]
    assert doc["buffers"][0]["byteLength"] <= bin_len
    width = {"SCALAR": 1, "VEC3": 3}
    dtype = {5126: np.float32, 5125: np.uint32}

    def view_array(view_index, offset, count, dt, comps):
        view = doc["bufferViews"][view_index]
        start = view.get("byteOffset", 0) + offset
        stride = view.get("byteStride", comps * np.dtype(dt).itemsize)
        rows = [np.frombuffer(blob, dt, comps, start + i * stride) for i in range(count)]
        return np.stack(rows) if comps > 1 else np.concatenate(rows)

    def accessor(i):
        a = doc["accessors"][i]
        comps = width[a["type"]]
        if "bufferView" in a:
            out = view_array(a["bufferView"], a.get("byteOffset", 0), a["count"], dtype[a["componentType"]], comps)
        else:
            out = np.zeros((a["count"], comps) if comps > 1 else a["count"], dtype[a["componentType"]])
        if "sparse" in a:
            s = a["sparse"]
            idx = view_array(s["indices"]["bufferView"], 0, s["count"], dtype[s["indices"]["componentType"]], 1)
            out[idx] = view_array(s["values"]["bufferView"], 0, s["count"], dtype[a["componentType"]], comps)
        return out

    return doc, accessor


def test_glb_morph_animation_reproduces_every_frame(tmp_path):
    verts, faces = _mesh_sequence()
    times = np.arange(len(verts)) / 30.0
    data = glb_bytes(camera_to_y_up(verts), faces, times)
    doc, acc = parse_glb(data)
    prim = doc["meshes"][0]["primitives"][0]
    base = acc(prim["attributes"]["POSITION"])
    np.testing.assert_array_equal(acc(prim["indices"]).reshape(-1, 3), faces)
    want = camera_to_y_up(verts).astype(np.float32)
    assert len(prim["targets"]) == len(verts)
    for k, target in enumerate(prim["targets"]):
        np.testing.assert_allclose(base + acc(target["POSITION"]), want[k], atol=1e-6)
        a = doc["accessors"][target["POSITION"]]
        np.testing.assert_allclose(a["min"], acc(target["POSITION"]).min(0), atol=1e-7)
    sampler = doc["animations"][0]["samplers"][0]
    assert sampler["interpolation"] == "STEP"
    assert doc["animations"][0]["channels"][0]["target"] == {"node": 0, "path": "weights"}
    np.testing.assert_allclose(acc(sampler["input"]), times, atol=1e-6)
    weights = acc(sampler["output"]).reshape(len(verts), len(verts))
    np.testing.assert_array_equal(weights, np.eye(len(verts)))  # keyframe k shows exactly target k
    # glTF is Y up: the sphere, 3 m in front of the camera and above its centre, sits at z < 0 and y > 0.
    assert base[:, 2].max() < 0 and base[:, 1].mean() > 0

    (tmp_path / "m.glb").write_bytes(data)
    scene = trimesh.load(tmp_path / "m.glb", process=False)
    mesh = scene.to_mesh() if isinstance(scene, trimesh.Scene) else scene
    np.testing.assert_allclose(mesh.vertices, want[0], atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)


def test_glb_rejects_bad_arrays():
    verts, faces = _mesh_sequence(3)
    with pytest.raises(PoseCliError, match="strictly increasing"):
        glb_bytes(verts, faces, np.zeros(3))
    with pytest.raises(PoseCliError, match="faces index vertex"):
        glb_bytes(verts, faces + len(verts[0]), np.arange(3.0))


def test_obj_holds_one_frame(tmp_path):
    verts, faces = _mesh_sequence(3)
    (tmp_path / "m.obj").write_text(obj_text(camera_to_y_up(verts[2]), faces))
    mesh = trimesh.load(tmp_path / "m.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, camera_to_y_up(verts[2]), atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)


def test_mesh_exports_from_a_pose_file(tmp_path):
    # RootSpheres stands in for the fitted body: a sphere at each frame's root ("root" array, camera frame).
    pts = synthetic_motion(n=8).astype(np.float32)
    poses = make_poses(pts, frames=np.arange(10, 18), tracks=2)
    for t in poses.tracks:
        t.arrays["root"] = pts[:, 0]
    spheres = RootSpheres(radius=0.2, subdivisions=1)
    write_mesh(poses, tmp_path / "b.obj", "obj", track_id=2, frame=13, source=spheres)
    mesh = trimesh.load(tmp_path / "b.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, camera_to_y_up(spheres.vertices(poses.tracks[1], 3)), atol=1e-6)
    with pytest.raises(PoseCliError, match="not seen in frame 3"):
        write_mesh(poses, tmp_path / "c.obj", "obj", track_id=2, frame=3, source=spheres)

    write_mesh(poses, tmp_path / "b.glb", "glb", track_id=1, source=spheres)
    doc, acc = parse_glb((tmp_path / "b.glb").read_bytes())
    prim = doc["meshes"][0]["primitives"][0]
    base = acc(prim["attributes"]["POSITION"])
    for k in (0, 5):
        frame_k = base + acc(prim["targets"][k]["POSITION"])
        np.testing.assert_allclose(frame_k.mean(0), camera_to_y_up(pts[k, 0]), atol=1e-5)
    assert doc["meshes"][0]["extras"]["targetNames"][:2] == ["frame_10", "frame_11"]
    np.testing.assert_allclose(acc(doc["animations"][0]["samplers"][0]["input"]), np.arange(8) / FPS, atol=1e-6)


def test_mesh_export_without_a_body_says_what_to_run(tmp_path, capsys):
    write_poses(make_poses(synthetic_motion(n=5).astype(np.float32)), tmp_path / "p.npz")
    for fmt in ("glb", "obj"):
        assert main(["export", str(tmp_path / "p.npz"), "-o", str(tmp_path / f"m.{fmt}")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "has no body" in err[0] and "--body anny" in err[0]
        assert not (tmp_path / f"m.{fmt}").exists()
