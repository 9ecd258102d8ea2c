"""Body-model fitting: the chumpy-free SMPL loader, fits that recover poses made by the model itself, the
stored outputs and the mesh API used by render/export.

SMPL model files are licensed, so the SMPL tests build a synthetic file with the real layout (6890 vertices,
24 joints, 10 betas, 207 pose blend shapes, a sparse J_regressor, 13776 faces) around a hand-placed T-pose
skeleton. The Anny tests use the installed ``anny`` package; the first one on a machine builds Anny's cache
(about 1.5 minutes, once), later runs load it in a fraction of a second.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from posecli import joints as joint_sets
from posecli.body import body_faces, body_vertices, fit_poses, load_body
from posecli.body.fit import FitOptions, fit_track, place
from posecli.body.smpl_model import load_smpl_data
from posecli.errors import InputError
from posecli.poses import Keypoints, Poses, Track

# SMPL-like rest joints (metres, y up, facing +z), in SMPL's joint order.
SMPL_REST = {
    "pelvis": (0.0, -0.23, 0.02), "left_hip": (0.06, -0.32, 0.01), "right_hip": (-0.06, -0.32, 0.01),
    "spine1": (0.0, -0.11, -0.01), "left_knee": (0.10, -0.70, 0.01), "right_knee": (-0.10, -0.70, 0.01),
    "spine2": (0.0, 0.03, 0.01), "left_ankle": (0.09, -1.10, -0.03), "right_ankle": (-0.09, -1.10, -0.03),
    "spine3": (0.0, 0.09, 0.03), "left_foot": (0.12, -1.15, 0.09), "right_foot": (-0.12, -1.15, 0.09),
    "neck": (0.0, 0.29, 0.0), "left_collar": (0.08, 0.20, 0.0), "right_collar": (-0.08, 0.20, 0.0),
    "head": (0.0, 0.36, 0.05), "left_shoulder": (0.18, 0.23, -0.01), "right_shoulder": (-0.18, 0.23, -0.01),
    "left_elbow": (0.44, 0.21, -0.03), "right_elbow": (-0.44, 0.21, -0.03), "left_wrist": (0.70, 0.22, -0.03),
    "right_wrist": (-0.70, 0.22, -0.03), "left_hand": (0.78, 0.21, -0.04), "right_hand": (-0.78, 0.21, -0.04),
}


def synthetic_smpl(seed: int = 0) -> dict:
    """A model with SMPL's layout: each vertex belongs to one joint (a blob around it; the head's blob is a
    10 cm ball, so that it has a nose tip and a crown), one-hot skinning weights, the J_regressor averaging
    each joint's blob, betas that scale the body and move its parts."""
    rng = np.random.default_rng(seed)
    names = joint_sets.SMPL24.joints
    centres = np.array([SMPL_REST[n] for n in names])
    owner = np.arange(6890) % 24
    offsets = rng.normal(0, 0.02, (6890, 3))
    head = names.index("head")
    ball = rng.normal(size=(6890, 3))
    ball = 0.1 * ball / np.linalg.norm(ball, axis=1, keepdims=True)
    offsets[owner == head] = ball[owner == head]
    for j in range(24):  # zero-mean blobs: the regressed joints are the centres
        offsets[owner == j] -= offsets[owner == j].mean(0)
    v_template = centres[owner] + offsets
    weights = np.eye(24)[owner]
    regressor = scipy.sparse.csc_matrix(weights.T / weights.sum(0)[:, None])
    shapedirs = rng.normal(0, 0.004, (6890, 3, 10))
    shapedirs[:, :, 0] = 0.05 * v_template  # beta 0: overall size
    parents = np.array(joint_sets.SMPL24.parents, dtype=np.int64)
    parents[0] = 4294967295  # as in the official files
    return {
        "v_template": v_template, "shapedirs": shapedirs, "posedirs": rng.normal(0, 1e-4, (6890, 3, 207)),
        "J_regressor": regressor, "weights": weights, "kintree_table": np.stack([parents, np.arange(24)]),
        "f": rng.integers(0, 6890, (13776, 3)).astype(np.uint32), "bs_type": "lrotmin", "bs_style": "lbs",
    }


class FakeCh:
    """Pickles exactly as chumpy's ``Ch`` does: class ``chumpy.ch.Ch``, the array in its state's ``x``."""

    def __init__(self, x):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set(), "_itr": None}


@pytest.fixture
def smpl_pkl(tmp_path, monkeypatch):
    """The synthetic model as an official-style .pkl: chumpy objects inside, chumpy not importable."""
    data = synthetic_smpl()
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        data[key] = FakeCh(data[key])
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    FakeCh.__module__, FakeCh.__qualname__, FakeCh.__name__ = "chumpy.ch", "Ch", "Ch"
    ch.Ch = FakeCh
    path = tmp_path / "SMPL_SYNTHETIC.pkl"
    with monkeypatch.context() as m:  # chumpy "exists" only while writing
        m.setitem(sys.modules, "chumpy", chumpy)
        m.setitem(sys.modules, "chumpy.ch", ch)
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    return path


def test_smpl_pkl_with_chumpy_objects_loads_without_chumpy(smpl_pkl):
    with open(smpl_pkl, "rb") as fh, pytest.raises(ModuleNotFoundError):
        pickle.load(fh, encoding="latin1")  # what smplx itself would do
    data = load_smpl_data(smpl_pkl)
    reference = synthetic_smpl()
    for key in ("v_template", "shapedirs", "weights"):
        assert isinstance(data[key], np.ndarray)
        np.testing.assert_array_equal(data[key], reference[key])
    assert scipy.sparse.issparse(data["J_regressor"]) and data["J_regressor"].shape == (24, 6890)
    np.testing.assert_array_equal(data["f"], reference["f"])


def test_smpl_npz_and_bad_files(tmp_path, smpl_pkl):
    data = synthetic_smpl()
    data["J_regressor"] = data["J_regressor"].toarray()
    npz = tmp_path / "smpl.npz"
    np.savez(npz, **{k: v for k, v in data.items() if not isinstance(v, str)})
    np.testing.assert_allclose(load_smpl_data(npz)["v_template"], data["v_template"])
    with pytest.raises(InputError, match="not found"):
        load_smpl_data(tmp_path / "missing.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="cannot read"):
        load_smpl_data(junk)
    smplh = dict(data, kintree_table=np.zeros((2, 52), np.int64))
    with open(tmp_path / "smplh.pkl", "wb") as fh:
        pickle.dump(smplh, fh)
    with pytest.raises(InputError, match="SMPL-H"):
        load_smpl_data(tmp_path / "smplh.pkl")


def _motion(body, n: int, seed: int):
    """A smooth random motion within the pose prior's range, hinges inside their limits."""
    gen = torch.Generator().manual_seed(seed)
    scale = torch.tensor([min(0.5, 0.3 / j.prior ** 0.5) if j.kind == "ball" else 0.5
                          for j in body.layout.joints for _ in range(j.dof)])
    start, end = scale * torch.randn(2, body.layout.dim, generator=gen)
    s = torch.linspace(0, 1, n)[:, None]
    pose = start + (end - start) * (3 * s ** 2 - 2 * s ** 3)
    body.layout.clamp_(pose)
    go = torch.tensor([2.9, 0.3, -0.2]).expand(n, 3) + 0.2 * s  # upside-down model frame vs camera
    tr = torch.tensor([0.2, -0.1, 3.5]) + torch.cat([0.3 * s, 0 * s, 0.2 * s], 1)
    return pose, go, tr


def _recovers_known_motion(body, shape_true, n=12, tol_mm=6.0):
    pose, go, tr = _motion(body, n, seed=3)
    with torch.no_grad():
        target = place(body.forward(pose, shape_true)["joints"], go, tr).numpy()
    fit = fit_track(body, target, np.ones(target.shape[:2], np.float32), np.arange(n), 30.0,
                    FitOptions(smooth=0.1, prior=0.01))
    assert fit.joints.shape == (n, 17, 3) and fit.pose.shape == (n, body.layout.dim)
    assert np.nanmean(fit.joint_error) * 1000 < tol_mm
    # The hinges, which the joints observe fully, come back (degrees).
    hinge = [i for i, name in enumerate(body.layout.names) if name.endswith(".flex")]
    assert np.abs(np.rad2deg(fit.pose[:, hinge] - pose.numpy()[:, hinge])).mean() < 5.0
    return fit


def test_smpl_fit_recovers_a_motion_made_by_the_model(smpl_pkl):
    body = load_body("smpl", smpl_pkl)
    assert body.layout.dim == 34 and len(body.faces) == 13776
    shape_true = torch.zeros(10)
    shape_true[0] = 1.0  # 5% larger than the template
    fit = _recovers_known_motion(body, shape_true)
    assert abs(fit.shape[0] - 1.0) < 0.3


def test_smpl_analytic_jacobian_matches_autograd(smpl_pkl):
    body = load_body("smpl", smpl_pkl)
    pose = 0.3 * torch.randn(3, body.layout.dim, generator=torch.Generator().manual_seed(0))
    rest = body.rest(torch.zeros(10))
    joints, jac = body.joints_and_jacobian(pose, rest)
    auto = torch.func.jacrev(lambda p: body.joints(p, rest).sum(0))(pose).permute(2, 0, 1, 3)
    torch.testing.assert_close(jac, auto, atol=1e-4, rtol=1e-4)


def _track(points: np.ndarray, confidence: np.ndarray) -> Track:
    n = len(points)
    shown = np.where(confidence[..., None] > 0, points, np.nan)
    return Track(1, np.arange(n), np.arange(n) / 30.0, {"keypoints3d": Keypoints("h36m17", shown, confidence)},
                 {"keypoints3d_all": points.astype(np.float32)})


def test_fit_poses_stores_the_body_and_vertices_are_recomputed(smpl_pkl):
    body = load_body("smpl", smpl_pkl)
    pose, go, tr = _motion(body, 6, seed=5)
    with torch.no_grad():
        target = place(body.forward(pose, torch.zeros(10))["joints"], go, tr).numpy()
    confidence = np.ones(target.shape[:2], np.float32)
    confidence[:, joint_sets.H36M17.index("left_wrist")] = 0.0  # hidden: guessed, weighs little
    poses = Poses([_track(target, confidence)], fps=30.0, width=640, height=480)
    fit_poses(poses, "smpl", smpl_pkl, vertices=True)
    arrays = poses.tracks[0].arrays
    assert arrays["body_joints"].shape == (6, 17, 3) and arrays["body_vertices"].shape == (6, 6890, 3)
    assert arrays["body_shape"].shape == (6, 10) and arrays["body_error"].shape == (6,)
    meta = poses.meta["body"]
    assert meta["model"] == "smpl" and meta["mean_error_mm"] < 20 and len(meta["pose"]) == 34
    assert poses.meta["body"]["model"] == "smpl"
    poses.validate()
    # Recomputed from the parameters = stored; also for a slice of the frames (render reads chunks).
    stored = arrays.pop("body_vertices")
    again = body_vertices({k: v[2:5] for k, v in arrays.items()}, poses.meta)
    np.testing.assert_allclose(again, stored[2:5], atol=1e-5)
    # Camera frame: the vertices surround the fitted joints.
    assert np.linalg.norm(stored.mean(1) - arrays["body_joints"].mean(1), axis=-1).max() < 0.3
    assert body_faces("smpl", smpl_pkl).shape == (13776, 3)


def test_body_fit_names_the_frames_it_cannot_follow(smpl_pkl, capsys):
    from posecli.console import set_quiet

    set_quiet(False)
    body = load_body("smpl", smpl_pkl)
    pose, go, tr = _motion(body, 6, seed=5)
    with torch.no_grad():
        target = place(body.forward(pose, torch.zeros(10))["joints"], go, tr).numpy()
    target[3, 13:] += 0.8  # one frame's arm 0.8 m away: no body reaches it while the others fit
    poses = Poses([_track(target, np.ones(target.shape[:2], np.float32))], fps=30.0, width=640, height=480)
    capsys.readouterr()
    fit_poses(poses, "smpl", smpl_pkl)
    warnings = [w for w in capsys.readouterr().err.splitlines() if "warning" in w]
    assert len(warnings) == 1 and "track 1:" in warnings[0] and "worst" in warnings[0]
    assert "at frame 3;" in warnings[0] and "frames 0" not in warnings[0]  # named, the good frames not


def test_body_errors_name_the_fix(tmp_path):
    with pytest.raises(InputError, match="--body-model"):
        load_body("smpl", None)
    with pytest.raises(InputError, match="no fitted body"):
        body_vertices({"body_pose": np.zeros((1, 3)), "body_shape": np.zeros((1, 6)),
                       "body_global_orient": np.zeros((1, 3)), "body_transl": np.zeros((1, 3))}, {})


def test_cli_rejects_inconsistent_body_options(tmp_path, capsys):
    from posecli.cli import main

    out = tmp_path / "p.npz"
    assert main(["estimate", "missing.mp4", "-o", str(out), "--body", "smpl"]) == 1
    assert "--body-model" in capsys.readouterr().err
    assert main(["estimate", "missing.mp4", "-o", str(out), "--vertices"]) == 1
    assert "--body anny" in capsys.readouterr().err
    assert not out.exists()


def test_first_anny_build_says_so_and_keeps_only_the_compact_cache(tmp_path, monkeypatch, capsys):
    """Simulated build (the real one takes ~1.5 min): a note on stderr, and the two intermediate files the
    build wrote are deleted while the compacted model data and files that were already there stay."""
    import anny
    import anny.paths

    from posecli.body import anny_model

    folder = tmp_path / "v14"
    folder.mkdir()
    (folder / "load_data_old.safetensors").write_bytes(b"someone else's")

    class FakeAnny:
        def __init__(self, **kwargs):
            for name in ("load_data_new", "build_model_data_new", "build_compact_model_data_new"):
                (folder / f"{name}.safetensors").write_bytes(b"x")

        def to(self, dtype):
            return self

    monkeypatch.setattr(anny.paths, "_ANNY_CACHE_DIR", [tmp_path])
    monkeypatch.setattr(anny, "Anny", FakeAnny)
    anny_model.load_anny.__wrapped__()
    assert "building the Anny body model once" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["build_compact_model_data_new.safetensors",
                                                        "load_data_old.safetensors"]
    anny_model.load_anny.__wrapped__()  # cache present: silent
    assert "building" not in capsys.readouterr().err


# --- Anny (may build its cache once: ~1.5 min) -------------------------------------------------------------
@pytest.fixture(scope="module")
def anny():
    return load_body("anny")


def test_anny_joints_match_the_full_model(anny):
    """The fitter's sub-skeleton joints equal the joints read off Anny's own full forward pass."""
    import anny as anny_pkg

    pose = 0.3 * torch.randn(2, anny.layout.dim, generator=torch.Generator().manual_seed(1))
    shape = torch.tensor([0.3, 0.7, 0.6, 0.4, 0.6, 0.5])
    with torch.no_grad():
        ours = anny.forward(pose, shape, vertices=True)
        full = anny.model(anny.full_deltas(pose), phenotype_kwargs=shape[None])
    heads = full["bone_poses"][..., :3, 3]
    h36m = joint_sets.H36M17
    knee = anny.labels.index("lowerleg01.L")
    torch.testing.assert_close(ours["joints"][:, h36m.index("left_knee")], heads[:, knee])
    nose = anny_pkg.KeypointsRegressor.coco(anny.model, labels=["nose"])(full)[:, 0]
    head = heads[:, anny.labels.index("head")]
    torch.testing.assert_close(ours["joints"][:, h36m.index("neck_nose")], (nose + head) / 2, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours["vertices"], full["vertices"])
    rest = anny.rest(shape)
    _, jac = anny.joints_and_jacobian(pose, rest)
    auto = torch.func.jacrev(lambda p: anny.joints(p, rest).sum(0))(pose).permute(2, 0, 1, 3)
    torch.testing.assert_close(jac, auto, atol=1e-4, rtol=1e-4)
    assert body_faces("anny").shape == (27420, 3)


def test_anny_fit_recovers_a_motion_made_by_the_model(anny):
    fit = _recovers_known_motion(anny, torch.tensor([0.5, 0.7, 0.5, 0.5, 0.6, 0.5]))
    assert np.all((fit.shape > 0) & (fit.shape < 1))


def test_anny_knee_hinge_bends_backwards(anny):
    """Knee flexion moves the ankle behind the knee (Anny faces -y, so +y), never forwards."""
    pose = torch.zeros(1, anny.layout.dim)
    pose[0, anny.layout.names.index("left_knee.flex")] = np.pi / 2
    with torch.no_grad():
        j = anny.forward(pose, anny.shape_default)["joints"][0]
    knee, ankle = j[joint_sets.H36M17.index("left_knee")], j[joint_sets.H36M17.index("left_ankle")]
    assert ankle[1] - knee[1] > 0.3 and abs(ankle[2] - knee[2]) < 0.1


# --- --device (estimate's fit, render's meshes, synth's posing) without a GPU ------------------------------
# A CPU-only torch has no second device to run on, so these check the two things a GPU run depends on: a body
# moved with ``to(device)`` keeps no tensor behind (checked on torch's ``meta`` device, which holds shapes only);
# and posecli's code names a device for every tensor it creates during the fit, the vertices and synth's
# posing (a tensor made without one would stay on the CPU while the body is on the GPU). Third-party code is
# left out of the second check: Anny indexes with CPU ``arange``s, which torch accepts for tensors on any device.

class UnplacedTensors(TorchFunctionMode):
    """Records where posecli's own code calls a tensor constructor without a device."""

    def __init__(self):
        super().__init__()
        self.sites: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _device_constructors() and kwargs.get("device") is None:
            caller = sys._getframe(1).f_code
            if f"{os.sep}posecli{os.sep}" in caller.co_filename:
                self.sites.append(f"{caller.co_filename.rsplit(os.sep, 1)[-1]}:{caller.co_name}: {func.__name__}")
        return func(*args, **kwargs)


@contextlib.contextmanager
def every_tensor_placed():
    """Fails if posecli's code inside the block creates a tensor without naming its device."""
    with UnplacedTensors() as mode:
        yield
    assert not mode.sites, f"tensors created without a device: {sorted(set(mode.sites))}"


def _tensors(obj, seen=None) -> list[tuple[str, torch.Tensor]]:
    """Every tensor a body object holds: its attributes, its modules' parameters, buffers and plain tensor
    attributes, and nested body objects (the pose layout)."""
    from posecli.body.device import OnDevice

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    found = []
    for name, value in vars(obj).items():
        if isinstance(value, torch.Tensor):
            found.append((name, value))
        elif isinstance(value, OnDevice):
            found += [(f"{name}.{n}", t) for n, t in _tensors(value, seen)]
        elif isinstance(value, torch.nn.Module):
            found += [(f"{name}.{n}", t) for n, t in value.state_dict(keep_vars=True).items()]
            for mod_name, mod in value.named_modules():
                found += [(f"{name}.{mod_name}.{n}", t) for n, t in vars(mod).items() if isinstance(t, torch.Tensor)]
    return found


@pytest.mark.parametrize("model", ["smpl", "anny"])
def test_a_body_moved_to_a_device_keeps_nothing_behind(model, request):
    path = request.getfixturevalue("smpl_pkl") if model == "smpl" else None
    body = load_body(model, path)
    moved = load_body(model, path, device="meta")
    assert moved is load_body(model, path, device="meta")  # cached: moved once
    assert body.to("cpu") is body and moved.to("meta") is moved
    tensors = _tensors(moved)
    assert len(tensors) > 10 and moved.layout is not body.layout
    left = [name for name, t in tensors if t.device.type != "meta"]
    assert not left, f"left on the CPU: {left}"
    assert moved.device.type == "meta"
    assert all(t.device.type == "cpu" for _, t in _tensors(body))  # the shared CPU model stays where it was


def test_the_smpl_fit_and_its_vertices_make_their_tensors_on_the_bodys_device(smpl_pkl):
    body = load_body("smpl", smpl_pkl)
    pose, go, tr = _motion(body, 6, seed=5)
    with torch.no_grad():
        target = place(body.forward(pose, torch.zeros(10))["joints"], go, tr).numpy()
    poses = Poses([_track(target, np.ones(target.shape[:2], np.float32))], fps=30.0, width=640, height=480)
    with every_tensor_placed():
        fit_poses(poses, "smpl", smpl_pkl, vertices=True, device="cpu")
        arrays = poses.tracks[0].arrays
        again = body_vertices({k: v for k, v in arrays.items() if k != "body_vertices"}, poses.meta, "cpu")
    assert poses.meta["body"]["mean_error_mm"] < 20
    np.testing.assert_allclose(again, arrays["body_vertices"], atol=1e-5)


def test_the_anny_fit_makes_its_tensors_on_the_bodys_device():
    body = load_body("anny")
    with every_tensor_placed():
        fit = _recovers_known_motion(body, torch.tensor([0.5, 0.7, 0.5, 0.5, 0.6, 0.5], device="cpu"))
    assert np.all((fit.shape > 0) & (fit.shape < 1))


def test_synth_poses_and_skins_a_person_on_the_bodys_device():
    from posecli.synth.people import AnnySynth

    anny = AnnySynth("cpu")
    t = np.linspace(0, 1, 8)[:, None, None]
    to_world = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # Anny's frame (z up, facing -y) -> Y up
    rest = anny.rest_joints(np.full(6, 0.5, np.float32)) @ to_world.T
    walk = rest[None] + np.concatenate([0.5 * t, 0 * t, 0 * t], -1)  # (8, 17, 3) sliding forwards, Y up
    with every_tensor_placed():
        person = anny.make_person(np.random.default_rng(0), walk.astype(np.float32), 30.0)
        verts = person.vertices(0, 8, anny)
    assert verts.shape == (8, anny.body.num_vertices, 3) and np.isfinite(verts).all()
    assert person.fit_error_mm < 30
    # The body slides forwards with its joints (scaled, as the motion, to the random person's size).
    slide = person.info["scale"] * (walk.mean(1)[-1] - walk.mean(1)[0])
    np.testing.assert_allclose(verts.mean(1)[-1] - verts.mean(1)[0], slide, atol=0.02)
