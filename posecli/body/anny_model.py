"""The open Anny body (PyPI ``anny``, code Apache-2.0, body data CC0) as a model the fitter can drive.

Loading: ``anny.Anny(skinning_method="lbs")`` in float32 with the default "anny" rig and topology (13,718
vertices, 27,420 triangles, 104 bones) and the 6 default phenotypes (gender, age, muscle, weight, height,
proportions, each in [0, 1]). Never the smpl/smplx topologies: those download non-commercial data. Plain torch
skinning ("lbs") rather than Warp: it needs no GPU and Warp only prints start-up noise on a CPU machine.
The first ``Anny()`` on a machine builds a cache under ``~/.cache/anny`` (``ANNY_CACHE_DIR``): about 80 s and
1.7 GB of RAM, writing two intermediate files (~780 MB) and the compacted model data (~50 MB). Only the compacted
file is read afterwards, so when posecli made the build itself it deletes the two intermediates it created
(loads stay at ~0.2 s; a cache someone else built is left alone).

Pose (``layout``, 34 values): only the bones the 17 H36M keypoints observe are driven, in Anny's default
"local-ref" parameterisation (a rotation about the bone's head in the rest pose's world-aligned axes: x = the
body's left, y = back, z = up). The spine's five bones form two groups (lumbar: spine05-03, thoracic: spine02-01)
and the neck's three bones one, each group's rotation spread equally over its bones so that the back bends
smoothly; head, clavicles, shoulders (upperarm01) and hips (upperleg01) are ball joints; elbows (lowerarm01) and
knees (lowerleg01) are hinges about the axis of the rest pose's own bend (elbow: the plane of upper arm and
forearm; knee: the left-right axis, flexing the shin backwards) with anatomical limits. Twist bones, pelvis
bones, hands, feet, toes and face stay at rest: nothing in H36M-17 observes them. The whole-body rotation and
translation are not Anny parameters here: the fitter applies them (``posecli.body.fit``).

H36M-17 on Anny (bone heads are the posed joint centres, ``bone_poses[..., :3, 3]``):
hips/knees/ankles = heads of upperleg01 / lowerleg01 / foot; pelvis = midpoint of the hips (as every posecli
rig map, notes in ``posecli/mocap/rigmaps``); spine = 3/4 spine02 + 1/4 spine01 head, half way between the hips
and the neck base like H36M's spine joint; thorax = neck01 head (neck base, a few cm above the shoulder joints);
neck_nose = midpoint of the head bone's head (top of the neck, ear level) and the nose (Anny's own COCO nose
regressor, ``anny.KeypointsRegressor.coco``); head = the crown, the highest vertex (rest pose, default
phenotype) skinned to the head bone alone; shoulders/elbows/wrists = heads of upperarm01 / lowerarm01 / wrist.

Shape: the 6 phenotypes through a sigmoid (so they stay in (0, 1)), pulled towards a young adult with per-
phenotype weights (``PHENOTYPE_PRIOR``): 17 joints pin height and proportions, hardly gender, muscle or weight.
"""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import joints as joint_sets
from ..console import note
from ..errors import PoseCliError
from .device import OnDevice
from .layout import Joint, PoseLayout, hinge, pose_jacobian

# Default phenotype: a young adult (age 2/3 is Anny's "young" anchor, ~25 years; 0.5 would be a teenager).
DEFAULT_PHENOTYPE = {"gender": 0.5, "age": 2 / 3, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}
# Prior weight per phenotype on (value - default)^2: bone lengths pin height and proportions; gender, muscle and
# weight change the surface much more than the skeleton, so they stay near the default unless the joints insist.
PHENOTYPE_PRIOR = {"gender": 1.0, "age": 4.0, "muscle": 1.0, "weight": 1.0, "height": 0.02, "proportions": 0.2}

# (H36M joint, {source: weight}); sources: "bone:<label>" posed bone head, "nose" (regressor), "crown" (vertex).
H36M_SOURCES = {
    "pelvis": {"bone:upperleg01.L": 0.5, "bone:upperleg01.R": 0.5},
    "right_hip": {"bone:upperleg01.R": 1.0},
    "right_knee": {"bone:lowerleg01.R": 1.0},
    "right_ankle": {"bone:foot.R": 1.0},
    "left_hip": {"bone:upperleg01.L": 1.0},
    "left_knee": {"bone:lowerleg01.L": 1.0},
    "left_ankle": {"bone:foot.L": 1.0},
    "spine": {"bone:spine02": 0.75, "bone:spine01": 0.25},
    "thorax": {"bone:neck01": 1.0},
    "neck_nose": {"bone:head": 0.5, "nose": 0.5},
    "head": {"crown": 1.0},
    "left_shoulder": {"bone:upperarm01.L": 1.0},
    "left_elbow": {"bone:lowerarm01.L": 1.0},
    "left_wrist": {"bone:wrist.L": 1.0},
    "right_shoulder": {"bone:upperarm01.R": 1.0},
    "right_elbow": {"bone:lowerarm01.R": 1.0},
    "right_wrist": {"bone:wrist.R": 1.0},
}


def cache_dir() -> Path:
    """Where Anny keeps its built model data (``ANNY_CACHE_DIR`` or ``~/.cache/anny``)."""
    from anny.paths import get_anny_cache_path

    return Path(get_anny_cache_path())


def _cache_files(folder: Path) -> set[Path]:
    return set(folder.glob("v*/*.safetensors")) if folder.is_dir() else set()


@functools.cache
def load_anny():
    """The Anny model (float32, CPU), building its cache on first use with a note on stderr."""
    try:
        import anny
    except ImportError as exc:  # pragma: no cover - anny is a hard dependency
        raise PoseCliError("the Anny body model is not installed", "pip install anny==0.6.2") from exc
    folder = cache_dir()
    before = _cache_files(folder)
    first_build = not any(p.name.startswith("build_compact_model_data_") for p in before)
    if first_build:
        note(f"building the Anny body model once (about 1.5 min, ~1.7 GB of memory; cache in {folder}) ...")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = anny.Anny(skinning_method="lbs").to(dtype=torch.float32)
    except OSError as exc:
        raise PoseCliError(f"cannot build or read the Anny cache ({exc})",
                           "free disk space or set ANNY_CACHE_DIR to a writable folder", folder) from exc
    if first_build:
        _prune_intermediates(_cache_files(folder) - before)
        note("Anny body model ready")
    return model


def _prune_intermediates(created: set[Path]) -> None:
    """Delete the build's intermediate files (raw data, uncompacted model), keeping the compacted model data."""
    if not any(p.name.startswith("build_compact_model_data_") for p in created):
        return
    for path in created:
        if path.name.startswith(("load_data_", "build_model_data_")):
            try:
                os.remove(path)
            except OSError:
                pass  # a read-only or shared cache: keeping the file costs only disk space


class AnnyBody(OnDevice):
    """Anny driven by the compact pose layout above; joints in Anny's frame (metres, z up, facing -y).

    Fitting needs the 17 joints (and their Jacobian) for every frame at every step, so ``joints`` runs Anny's
    own forward kinematics (``anny.utils.kinematics``) on the 36 bones the joints depend on: a sub-tree closed
    under parents (a bone's pose depends only on its ancestors, so the result is exact) with the rest pose of
    those bones only. The nose and the crown are rigid on the head bone (every vertex of the nose regressor
    and the chosen crown vertex are skinned to it alone), so they are the head bone's transform applied to
    their rest positions, not a skinning of the whole mesh. ``vertices`` runs the full model.
    """

    name = "anny"

    def __init__(self, model=None):
        import anny
        from anny.utils import kinematics

        self.model = model if model is not None else load_anny()
        m = self.model
        if m.bone_orientation != "cached" or m.rest_orientation_refiner is not None:
            raise PoseCliError(f"unsupported Anny rig set-up (bone orientation {m.bone_orientation!r})",
                               "install anny==0.6.2")
        self.labels = list(m.bone_labels)
        self.shape_labels = list(m.phenotype_labels)
        self.shape_default = torch.tensor([DEFAULT_PHENOTYPE[k] for k in self.shape_labels], dtype=torch.float32)
        self._shape_weights = torch.tensor([PHENOTYPE_PRIOR[k] for k in self.shape_labels], dtype=torch.float32)
        self.faces = np.asarray(m.faces.cpu().numpy(), dtype=np.int64)
        self.num_vertices = int(m.template_vertices.shape[0])
        with torch.no_grad():
            rest = m.get_rest_model(self._coeffs(self.shape_default))
        self.layout = PoseLayout(self._joints(rest["rest_bone_heads"][0]))

        # Nose (Anny's COCO regressor) and crown (highest rest vertex) as mixtures of head-only vertices.
        head_bone = self.labels.index("head")
        head_only = m.dense_vertex_bone_weights[:, head_bone] >= 1.0 - 1e-6
        nose_w = anny.KeypointsRegressor.coco(m, labels=["nose"]).regression_weights[0]
        nose_idx = torch.nonzero(nose_w > 0).flatten()
        if not bool(head_only[nose_idx].all()):
            raise PoseCliError("Anny's nose regressor uses vertices off the head bone", "install anny==0.6.2")
        on_head = torch.nonzero(head_only).flatten()
        crown = on_head[rest["rest_vertices"][0, on_head, 2].argmax()]
        self._vert_idx = torch.cat([nose_idx, crown[None]])
        self._point_w = torch.zeros(2, len(self._vert_idx))
        self._point_w[0, :len(nose_idx)] = nose_w[nose_idx]
        self._point_w[1, -1] = 1.0

        # The sub-skeleton: bones the joints name or the pose drives, the head, and all their ancestors.
        needed = {self.labels.index(src[5:]) for srcs in H36M_SOURCES.values() for src in srcs
                  if src.startswith("bone:")}
        needed |= {self.labels.index(b) for b in self.layout.bones} | {head_bone}
        for b in list(needed):
            while b > 0:
                b = m.bone_parents[b]
                needed.add(b)
        self._sub = torch.tensor(sorted(needed))  # the root (index 0) stays first
        sub = self._sub.tolist()
        self._parents = [-1] + [sub.index(m.bone_parents[b]) for b in sub[1:]]
        self._chain = kinematics.get_kinematic_chain(self._parents)
        self._ref = None if m.reference_bone_orientations is None else m.reference_bone_orientations[self._sub]
        self._head = sub.index(head_bone)
        self._driven = torch.tensor([sub.index(self.labels.index(b)) for b in self.layout.bones])
        self._driven_parents = torch.tensor([self._parents[c] for c in self._driven.tolist()])
        # For each sub-skeleton bone: 0 (identity delta) or 1 + its position among the driven bones.
        driven = self._driven.tolist()
        self._delta_index = torch.tensor([driven.index(b) + 1 if b in driven else 0 for b in range(len(sub))])

        # Points: every sub-skeleton bone head, then nose and crown; each carried by one bone.
        owner = list(range(len(sub))) + [self._head, self._head]
        ancestors = [{b} for b in range(len(sub))]
        for b in range(1, len(sub)):
            a = b
            while a > 0:
                a = self._parents[a]
                ancestors[b].add(a)
        self._moves = torch.tensor([[float(c in ancestors[o]) for o in owner] for c in driven])  # (C, Q)
        js = joint_sets.get("h36m17")
        mix = torch.zeros(len(js), len(owner))
        for j, name in enumerate(js.joints):
            for source, w in H36M_SOURCES[name].items():
                if source.startswith("bone:"):
                    mix[j, sub.index(self.labels.index(source[5:]))] += w
                else:
                    mix[j, len(sub) + ("nose", "crown").index(source)] += w
        self._mix = mix

    def _joints(self, heads: torch.Tensor) -> list[Joint]:
        h = {label: heads[i].double().numpy() for i, label in enumerate(self.labels)}
        out = [Joint("spine_lower", ("spine05", "spine04", "spine03"), prior=4.0),
               Joint("spine_upper", ("spine02", "spine01"), prior=4.0),
               Joint("neck", ("neck01", "neck02", "neck03"), prior=2.0),
               Joint("head", ("head",), prior=1.0)]
        for side, s in (("left", "L"), ("right", "R")):
            out += [Joint(f"{side}_clavicle", (f"clavicle.{s}",), prior=20.0),
                    Joint(f"{side}_shoulder", (f"upperarm01.{s}",), prior=0.1),
                    hinge(f"{side}_elbow", f"lowerarm01.{s}", h[f"upperarm01.{s}"], h[f"lowerarm01.{s}"],
                           h[f"wrist.{s}"], None),
                    Joint(f"{side}_hip", (f"upperleg01.{s}",), prior=0.1),
                    hinge(f"{side}_knee", f"lowerleg01.{s}", h[f"upperleg01.{s}"], h[f"lowerleg01.{s}"],
                           h[f"foot.{s}"], np.array([0.0, 1.0, 0.0]))]
        return out

    # --- shape -------------------------------------------------------------------------------------------
    def shape_from_free(self, free: torch.Tensor) -> torch.Tensor:
        """Unconstrained optimiser variables -> phenotypes in (0, 1)."""
        return torch.sigmoid(free)

    def free_from_shape(self, shape: torch.Tensor) -> torch.Tensor:
        return torch.logit(shape.clamp(1e-4, 1 - 1e-4))

    def shape_prior(self, shape: torch.Tensor) -> torch.Tensor:
        return (self._shape_weights * (shape - self.shape_default).square()).sum()

    # --- kinematics --------------------------------------------------------------------------------------
    def _coeffs(self, shape: torch.Tensor) -> torch.Tensor:
        return self.model.get_phenotype_blendshape_coefficients(
            **{k: shape[i:i + 1] for i, k in enumerate(self.shape_labels)})

    def rest(self, shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the joints need from the shape: rest poses (Bs, 4, 4) of the sub-skeleton and rest positions
        (2, 3) of nose and crown in the head bone's frame, as ``RiggedModelWithLinearBlendShapes._get_cached_rest_model`` computes them
        for the whole model."""
        import roma

        m, sub = self.model, self._sub
        c = self._coeffs(shape.to(m.dtype))[0]
        heads = m.template_bone_heads[sub] + torch.einsum("c,cbd->bd", c, m.bone_heads_blendshapes[:, sub])
        cov = m.bone_template_orientation_matrices[sub] + torch.einsum(
            "c,cbij->bij", c, m.bone_orientation_blendshapes[:, sub])
        rot = roma.special_procrustes(cov)
        if m.root_identity_orientation:
            rot = torch.cat([torch.eye(3, dtype=rot.dtype, device=rot.device)[None], rot[1:]])
        verts = m.template_vertices[self._vert_idx] + torch.einsum("c,csd->sd", c, m.blendshapes[:, self._vert_idx])
        # Nose and crown in the head bone's rest frame: posed, they are the head's posed pose applied to these.
        local = (self._point_w @ verts - heads[self._head]) @ rot[self._head]
        return {"rest_poses": roma.Rigid(linear=rot, translation=heads).to_homogeneous(), "points": local}

    def _sub_deltas(self, pose: torch.Tensor) -> torch.Tensor:
        """(T, P) -> (T, Bs, 4, 4) delta transforms of the sub-skeleton (identity where not driven)."""
        import roma

        rot = roma.rotvec_to_rotmat(self.layout.bone_rotvecs(pose))  # (T, C, 3, 3)
        n = pose.shape[0]
        rot = torch.cat([torch.eye(3, dtype=pose.dtype, device=pose.device).expand(n, 1, 3, 3), rot],
                        dim=1)[:, self._delta_index]
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=pose.dtype, device=pose.device).expand(n, rot.shape[1], 1, 4)
        return torch.cat([torch.cat([rot, torch.zeros_like(rot[..., :1])], dim=-1), bottom], dim=-2)

    def full_deltas(self, pose: torch.Tensor) -> torch.Tensor:
        """(T, P) -> (T, 104, 4, 4): Anny's own pose parameters (identity for the bones at rest)."""
        delta = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(pose.shape[0], len(self.labels), 1, 1)
        delta[:, self._sub] = self._sub_deltas(pose)
        return delta

    def _kinematics(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]):
        from anny.utils import kinematics

        pose = pose.to(self.model.dtype)
        n = pose.shape[0]
        _, poses = kinematics.forward_kinematic(
            self._chain, rest["rest_poses"].expand(n, -1, -1, -1), self._sub_deltas(pose),
            self.model.pose_parameterization, self._ref)
        head = poses[:, self._head]
        face = torch.einsum("tij,kj->tki", head[:, :3, :3], rest["points"]) + head[:, None, :3, 3]
        points = torch.cat([poses[..., :3, 3], face], dim=1)  # (T, Q, 3)
        return points, poses

    def joints(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]) -> torch.Tensor:
        """pose (T, P) -> H36M-17 joints (T, 17, 3) in Anny's frame, for the shape ``rest`` was made from."""
        points, _ = self._kinematics(pose, rest)
        return torch.einsum("jq,tqd->tjd", self._mix, points)

    def joints_and_jacobian(self, pose: torch.Tensor, rest: dict[str, torch.Tensor]):
        """Joints (T, 17, 3) and their Jacobian (T, 17, 3, P) with respect to the pose."""
        points, poses = self._kinematics(pose, rest)
        # A driven bone's delta acts in world-aligned rest axes carried by its parent ('local-ref'): the
        # parent's posed rotation times the transpose of the parent's reference orientation.
        parents = self._driven_parents
        ref = self._ref if self._ref is not None else rest["rest_poses"][:, :3, :3]
        frames = poses[:, parents, :3, :3] @ ref[parents].transpose(-1, -2)
        jac = pose_jacobian(self.layout, pose.to(points.dtype), points, self._mix, self._moves,
                            poses[:, self._driven, :3, 3], frames)
        return torch.einsum("jq,tqd->tjd", self._mix, points), jac

    def vertices(self, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """(T, P), (S,) -> (T, V, 3) mesh vertices in Anny's frame, by the full Anny model."""
        pose, shape = pose.to(self.model.dtype), shape.to(self.model.dtype)
        full = self.full_deltas(pose)
        chunks = []
        for t0 in range(0, pose.shape[0], 32):  # bounded memory: Anny's dense skinning holds (32, V, 3, 4) floats
            chunks.append(self.model(full[t0:t0 + 32], phenotype_kwargs=shape[None])["vertices"])
        return torch.cat(chunks) if chunks else torch.zeros(0, self.num_vertices, 3, device=pose.device)

    def forward(self, pose: torch.Tensor, shape: torch.Tensor, vertices: bool = False) -> dict[str, torch.Tensor]:
        """pose (T, P), shape (S,) -> {"joints": (T, 17, 3)} (+ "vertices": (T, V, 3)) in Anny's frame."""
        out = {"joints": self.joints(pose, self.rest(shape))}
        if vertices:
            out["vertices"] = self.vertices(pose, shape)
        return out


@functools.cache
def anny_body() -> AnnyBody:
    return AnnyBody()
