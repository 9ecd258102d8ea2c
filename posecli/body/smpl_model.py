"""SMPL (through ``smplx``) as a model the fitter can drive, for users who have the licensed model file.

Loading without chumpy: official SMPL ``.pkl`` files were pickled under Python 2 with some arrays stored as
``chumpy.ch.Ch`` objects, and chumpy does not import on Python 3.11. ``load_smpl_data`` unpickles them
(``latin1``) with an Unpickler whose ``find_class`` maps every ``chumpy.*`` class to a stub that keeps the
pickled state; each stub is then replaced by the array it stored (``x``). ``.npz`` files (the same keys) load
with numpy. Only the 24-joint SMPL layout is accepted (SMPL-H/SMPL-X files have more joints). The data go to
``smplx.SMPL(data_struct=...)``, which then never opens the file itself.

Pose (``layout``, 34 values), in SMPL's own convention (each joint's axis-angle in its parent's frame; rest pose
is SMPL's T-pose, y up, facing +z): spine1 (lumbar), spine2+spine3 (thoracic, one rotation spread over both),
neck, head, collars, shoulders and hips as ball joints; elbows and knees as hinges about the anatomical axis
(knee: x, flexing the shin backwards; elbow: the axis that swings the forearm forwards, -y for the left arm,
+y for the right, as SMPLify's bending prior assumes) with limits. Wrists, hands, ankles and feet stay at
rest (H36M-17 does not observe them). Shape: the 10 betas with a quadratic prior.

H36M-17 on SMPL: hips, knees, ankles, shoulders, elbows, wrists = SMPL joints of the same name; pelvis = midpoint
of the hips (SMPL's pelvis joint sits higher than H36M's); spine = spine2 (half way between hips and neck base);
thorax = neck (the neck base); neck_nose = midpoint of the head joint and the nose; head = the crown. Nose and
crown are vertices chosen by geometry, so any file with the SMPL layout works: among the vertices skinned (90 % or
more) to the head, the most forward (nose tip) and the highest (crown) in the rest pose. For the fit they ride rigidly
on the head joint (SMPL's pose-corrective offsets on these two points are ignored), which makes the joints an
exact rigid chain with an analytic Jacobian; meshes (``vertices``) are SMPL's full output.
"""
from __future__ import annotations

import contextlib
import functools
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from .. import joints as joint_sets
from ..errors import InputError
from .device import OnDevice
from .layout import Joint, PoseLayout, hinge, pose_jacobian

REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
NUM_JOINTS = 24
NUM_BETAS = 10
BETA_PRIOR = 0.5  # weight of each beta^2 (betas are unit-variance by construction)

# (H36M joint, {source: weight}); sources are SMPL joint names, "nose" or "crown".
H36M_SOURCES = {
    "pelvis": {"left_hip": 0.5, "right_hip": 0.5},
    "right_hip": {"right_hip": 1.0},
    "right_knee": {"right_knee": 1.0},
    "right_ankle": {"right_ankle": 1.0},
    "left_hip": {"left_hip": 1.0},
    "left_knee": {"left_knee": 1.0},
    "left_ankle": {"left_ankle": 1.0},
    "spine": {"spine2": 1.0},
    "thorax": {"neck": 1.0},
    "neck_nose": {"head": 0.5, "nose": 0.5},
    "head": {"crown": 1.0},
    "left_shoulder": {"left_shoulder": 1.0},
    "left_elbow": {"left_elbow": 1.0},
    "left_wrist": {"left_wrist": 1.0},
    "right_shoulder": {"right_shoulder": 1.0},
    "right_elbow": {"right_elbow": 1.0},
    "right_wrist": {"right_wrist": 1.0},
}


class _ChumpyStub:
    """Stands in for any chumpy class while unpickling; keeps the pickled state (``x`` is the array)."""

    def __init__(self, *args, **kwargs):
        self.state = {"x": args[0]} if args else {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"x": state}


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        return super().find_class(module, name)


def _unstub(value, key: str, path: Path):
    if isinstance(value, _ChumpyStub):
        array = value.state.get("x")
        if array is None:
            raise InputError(f"SMPL entry {key!r} is a chumpy expression, not a stored array",
                             "re-save the model with plain numpy arrays (e.g. as .npz)", path)
        return _unstub(array, key, path)
    return value


def load_smpl_data(path: str | Path) -> dict:
    """The arrays of an SMPL model file (.pkl, chumpy or not, or .npz) as a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError("SMPL model file not found", "pass the SMPL_NEUTRAL.pkl (or .npz) you downloaded from "
                         "smpl.is.tue.mpg.de with --body-model", path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        else:
            with open(path, "rb") as fh:
                data = _NoChumpyUnpickler(fh, encoding="latin1").load()
    except InputError:
        raise
    except Exception as exc:  # corrupt files raise many kinds of errors
        raise InputError(f"cannot read the SMPL model file ({type(exc).__name__}: {exc})",
                         "pass an official SMPL .pkl or an .npz with the same arrays", path) from exc
    if not isinstance(data, dict):
        raise InputError("not an SMPL model file (no dictionary of arrays inside)", path=path)
    data = {k: _unstub(v, k, path) for k, v in data.items()}
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise InputError(f"not an SMPL model file: missing {', '.join(missing)}", path=path)
    joints = np.asarray(data["kintree_table"]).shape[-1]
    if joints != NUM_JOINTS:
        raise InputError(f"model has {joints} joints; posecli fits SMPL (24 joints), not SMPL-H/SMPL-X",
                         "pass an SMPL model file", path)
    return data


class SmplBody(OnDevice):
    """SMPL driven by the compact pose layout above; joints in SMPL's frame (metres, y up, facing +z)."""

    name = "smpl"

    def __init__(self, path: str | Path):
        import smplx
        from smplx.utils import Struct

        self.path = Path(path)
        data = load_smpl_data(self.path)
        # smplx prints a notice about 10-beta models on stdout, where results belong: keep it out.
        with contextlib.redirect_stdout(io.StringIO()):
            self.model = smplx.SMPL(str(self.path), data_struct=Struct(**data), num_betas=NUM_BETAS,
                                    create_betas=False, create_global_orient=False, create_body_pose=False,
                                    create_transl=False)
        m = self.model
        self.num_betas = int(m.num_betas)
        self.shape_labels = [f"beta{i}" for i in range(self.num_betas)]
        self.shape_default = torch.zeros(self.num_betas)
        self.faces = np.asarray(m.faces, dtype=np.int64)
        self.num_vertices = int(m.v_template.shape[0])
        self.parents = [int(p) for p in m.parents.tolist()]
        names = joint_sets.SMPL24.joints
        self.joint_names = names

        with torch.no_grad():
            rest_joints = self._rest_joints(self.shape_default)
        self.layout = PoseLayout(self._joints(rest_joints.double().numpy()))
        self._driven = torch.tensor([names.index(b) for b in self.layout.bones])
        self._driven_parents = torch.tensor([self.parents[c] for c in self._driven.tolist()])
        # Rotation of every joint from [identity, driven bones' rotations]: 0 (rest) or 1 + its driven position.
        self._rotation_index = torch.zeros(NUM_JOINTS, dtype=torch.long)
        self._rotation_index[self._driven] = torch.arange(1, len(self._driven) + 1)

        # Nose and crown: most forward / highest rest vertex among those skinned (mostly) to the head.
        head = names.index("head")
        head_only = torch.nonzero(m.lbs_weights[:, head] >= 0.9).flatten()
        if len(head_only) == 0:
            raise InputError("no SMPL vertex is skinned to the head", "pass a standard SMPL model file", self.path)
        verts = m.v_template[head_only]
        self._point_idx = torch.stack([head_only[verts[:, 2].argmax()], head_only[verts[:, 1].argmax()]])
        self._head = head

        owner = list(range(NUM_JOINTS)) + [head, head]
        ancestors = [{j} for j in range(NUM_JOINTS)]
        for j in range(1, NUM_JOINTS):
            a = j
            while a > 0:
                a = self.parents[a]
                ancestors[j].add(a)
        self._moves = torch.tensor([[float(c in ancestors[o]) for o in owner] for c in self._driven.tolist()])
        js = joint_sets.get("h36m17")
        mix = torch.zeros(len(js), len(owner))
        for j, name in enumerate(js.joints):
            for source, w in H36M_SOURCES[name].items():
                col = NUM_JOINTS + ("nose", "crown").index(source) if source in ("nose", "crown") \
                    else names.index(source)
                mix[j, col] += w
        self._mix = mix

    def _joints(self, rest: np.ndarray) -> list[Joint]:
        idx = joint_sets.SMPL24.index
        front, back = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0])
        out = [Joint("spine_lower", ("spine1",), prior=4.0),
               Joint("spine_upper", ("spine2", "spine3"), prior=4.0),
               Joint("neck", ("neck",), prior=2.0),
               Joint("head", ("head",), prior=1.0)]
        for side in ("left", "right"):
            def at(name):
                return rest[idx(f"{side}_{name}")]
            out += [Joint(f"{side}_clavicle", (f"{side}_collar",), prior=20.0),
                    Joint(f"{side}_shoulder", (f"{side}_shoulder",), prior=0.1),
                    hinge(f"{side}_elbow", f"{side}_elbow", at("shoulder"), at("elbow"), at("wrist"), front),
                    Joint(f"{side}_hip", (f"{side}_hip",), prior=0.1),
                    hinge(f"{side}_knee", f"{side}_knee", at("hip"), at("knee"), at("ankle"), back)]
        return out

    # --- shape -------------------------------------------------------------------------------------------
    def shape_from_free(self, free: torch.Tensor) -> torch.Tensor:
        return free

    def free_from_shape(self, shape: torch.Tensor) -> torch.Tensor:
        return shape.clone()

    def shape_prior(self, shape: torch.Tensor) -> torch.Tensor:
        return BETA_PRIOR * shape.square().sum()

    # --- kinematics --------------------------------------------------------------------------------------
    def _rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        m = self.model
        shaped = m.v_template + torch.einsum("l,vdl->vd", betas.to(m.v_template.dtype), m.shapedirs)
        return m.J_regressor @ shaped

    def rest(self, shape: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        betas = shape.to(m.v_template.dtype)
        shaped = m.v_template[self._point_idx] + torch.einsum("l,vdl->vd", betas, m.shapedirs[self._point_idx])
        return {"joints": self._rest_joints(betas), "points": shaped}

    def _rotations(self, pose: torch.Tensor) -> torch.Tensor:
        import roma

        n = pose.shape[0]
        driven = roma.rotvec_to_rotmat(self.layout.bone_rotvecs(pose))  # (T, C, 3, 3)
        eye = torch.eye(3, dtype=pose.dtype, device=pose.device).expand(n, 1, 3, 3)
        return torch.cat([eye, driven], dim=1)[:, self._rotation_index]

    def _kinematics(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]):
        from smplx.lbs import batch_rigid_transform

        pose = pose.to(self.model.v_template.dtype)
        n = pose.shape[0]
        posed, transforms = batch_rigid_transform(self._rotations(pose), rest["joints"].expand(n, -1, -1),
                                                  self.model.parents, dtype=pose.dtype)
        head = transforms[:, self._head]  # maps rest positions to posed ones
        face = torch.einsum("tij,kj->tki", head[:, :3, :3], rest["points"]) + head[:, None, :3, 3]
        return torch.cat([posed, face], dim=1), transforms

    def joints(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]) -> torch.Tensor:
        points, _ = self._kinematics(pose, rest)
        return torch.einsum("jq,tqd->tjd", self._mix, points)

    def joints_and_jacobian(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]):
        points, transforms = self._kinematics(pose, rest)
        # SMPL rotates each joint in its parent's frame: the parent's world rotation carries the axes.
        frames = transforms[:, self._driven_parents, :3, :3]
        jac = pose_jacobian(self.layout, pose.to(points.dtype), points, self._mix, self._moves,
                            points[:, self._driven], frames)
        return torch.einsum("jq,tqd->tjd", self._mix, points), jac

    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(T, P) -> (T, 69) SMPL ``body_pose`` axis-angles (zeros for the joints at rest)."""
        body = torch.zeros(pose.shape[0], NUM_JOINTS, 3, dtype=pose.dtype, device=pose.device)
        body[:, self._driven] = self.layout.bone_rotvecs(pose)
        return body[:, 1:].reshape(pose.shape[0], -1)

    def vertices(self, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        m = self.model
        pose = pose.to(m.v_template.dtype)
        n = pose.shape[0]
        chunks = []
        for t0 in range(0, n, 64):
            p = pose[t0:t0 + 64]
            out = m(betas=shape[None].to(p.dtype).expand(len(p), -1), body_pose=self.full_pose(p),
                    global_orient=p.new_zeros(len(p), 3), transl=p.new_zeros(len(p), 3))
            chunks.append(out.vertices)
        return torch.cat(chunks) if chunks else torch.zeros(0, self.num_vertices, 3, device=pose.device)

    def forward(self, pose: torch.Tensor, shape: torch.Tensor, vertices: bool = False) -> dict[str, torch.Tensor]:
        out = {"joints": self.joints(pose, self.rest(shape))}
        if vertices:
            out["vertices"] = self.vertices(pose, shape)
        return out


@functools.lru_cache(maxsize=2)
def smpl_body(path: str) -> SmplBody:
    return SmplBody(Path(path))
