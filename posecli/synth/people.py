"""Synthetic people: an Anny body with a random phenotype, posed by fitting it to mocap joints, and dressed.

Choices the spec leaves open:
- Phenotype: gender, muscle, weight, proportions uniform in [0.1, 0.9]; age in [0.55, 0.95] (Anny's 2/3 is a
  young adult; below 0.5 are children, whom CMU's adult motion does not fit); height in [0.2, 0.8].
- The mocap is scaled to the body before fitting (ratio of the two skeletons' leg + trunk lengths), so a short
  person performs the motion with their own limb lengths instead of straining the fit; the fitted body's own
  joints, not the mocap's, are the ground truth written out (the image shows the body).
- Fitting runs in a y-down frame (the fitter's camera-like frame): world Y-up points p map to F p with
  F = diag(1, -1, -1) (a half turn about x), and the fit's placement maps back the same way.
- COCO-17 truth comes from Anny's own COCO keypoint regressor (vertex mixtures on the mesh), H36M-17 from the
  fitted skeleton (``AnnyBody.joints``).
- Clothing: per-vertex colours by body region (each vertex belongs to the bone that weighs most in its
  skinning): hair, skin, shirt (long or short sleeves), trousers (long or shorts), shoes; a garment is plain
  or carries stripes or checks laid out on the rest-pose mesh (so the pattern moves with the cloth).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .. import joints as joint_sets
from ..body.fit import FitOptions, fit_track, place

F = np.diag([1.0, -1.0, -1.0])  # world (Y up) <-> fit frame (y down); its own inverse
PHENOTYPE_RANGES = {"gender": (0.1, 0.9), "age": (0.55, 0.95), "muscle": (0.1, 0.9), "weight": (0.1, 0.9),
                    "height": (0.2, 0.8), "proportions": (0.1, 0.9)}
SKIN_TONES = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 90], [141, 85, 54],
                       [90, 56, 37]], np.float32)
HAIR = np.array([[30, 25, 20], [70, 45, 25], [120, 80, 40], [200, 170, 110], [140, 140, 140], [150, 60, 30]],
                np.float32)

# Body parts by Anny bone label prefix; order matters (first match wins).
_PART_OF_BONE = (("upperarm", "upperarm"), ("shoulder01", "torso"), ("clavicle", "torso"),
                 ("lowerarm", "forearm"), ("wrist", "hand"), ("finger", "hand"), ("metacarpal", "hand"),
                 ("upperleg", "thigh"), ("lowerleg", "shin"), ("foot", "foot"), ("toe", "foot"),
                 ("pelvis", "hips"), ("root", "hips"), ("spine", "torso"), ("neck", "neck"), ("head", "head"),
                 ("eye", "head"))
# The parts a keypoint sits in (its "own" surface for the depth test), and whether it lies on the surface.
_KEYPOINT_PARTS = {
    "nose": ("head",), "eye": ("head",), "ear": ("head",), "head": ("head",), "neck_nose": ("head", "neck"),
    "shoulder": ("torso", "upperarm"), "elbow": ("upperarm", "forearm"), "wrist": ("forearm", "hand"),
    "hip": ("hips", "thigh"), "knee": ("thigh", "shin"), "ankle": ("shin", "foot"),
    "pelvis": ("hips", "torso", "thigh"), "spine": ("torso", "hips"), "thorax": ("torso", "neck"),
}
SURFACE_KEYPOINTS = ("nose", "eye", "ear", "head")  # on the skin: only the skin right around them is "own"


def _base(name: str) -> str:
    return name.replace("left_", "").replace("right_", "")


def _side(name: str) -> str:
    return "left" if name.startswith("left_") else "right" if name.startswith("right_") else ""


@dataclass
class Person:
    """One synthetic person over a clip: world-frame (Y up) vertices come from ``vertices(rows)``."""

    phenotype: np.ndarray  # (6,) in Anny's phenotype order
    pose: np.ndarray  # (T, P) compact pose (posecli.body layout)
    orient_world: np.ndarray  # (T, 3) axis-angle, model -> world
    transl_world: np.ndarray  # (T, 3)
    h36m_world: np.ndarray  # (T, 17, 3)
    colours: np.ndarray  # (V, 3) float32 0-255, unlit
    fit_error_mm: float
    info: dict

    def vertices(self, start: int, stop: int, anny: AnnySynth | None = None) -> np.ndarray:
        """(n, V, 3) float32 world vertices of frames ``start:stop`` (by ``anny``'s body, on its device)."""
        body = (anny or anny_synth()).body

        def as_t(values) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float32, device=body.device)

        with torch.no_grad():
            verts = body.vertices(as_t(self.pose[start:stop]), as_t(self.phenotype))
            # place() with the world rotation directly: world = R_w model + t_w
            return place(verts, as_t(self.orient_world[start:stop]), as_t(self.transl_world[start:stop])).cpu().numpy()


class AnnySynth:
    """What the synthesiser needs from Anny beyond the fitter: parts, keypoint regressor, faces."""

    def __init__(self, device: str = "cpu"):
        import anny

        from ..body import load_body

        cpu = load_body("anny")  # the tables below are numpy, read once from the CPU model
        model = cpu.model
        self.body = cpu.to(device)  # posing (the fit) and the vertices run on the device
        self.faces = cpu.faces
        labels = list(model.bone_labels)
        dominant = model.dense_vertex_bone_weights.argmax(1).numpy()
        part_of_bone = []
        for label in labels:
            side = "left_" if label.endswith(".L") else "right_" if label.endswith(".R") else ""
            part = next(p for prefix, p in _PART_OF_BONE if label.startswith(prefix))
            part_of_bone.append(part if part in ("head", "neck", "torso", "hips") else side + part)
        self.part = np.array(part_of_bone, dtype=object)[dominant]  # (V,) part name of each vertex
        with torch.no_grad():
            rest = model.get_rest_model(cpu._coeffs(cpu.shape_default))
        self.rest_vertices = rest["rest_vertices"][0].numpy()  # z up, faces -y
        coco = joint_sets.get("coco17").joints
        reg = anny.KeypointsRegressor.coco(model, labels=list(coco))
        self.coco_weights = reg.regression_weights.numpy().astype(np.float32)  # (17, V)
        self.own = {js: [self._own(name) for name in joint_sets.get(js).joints] for js in ("coco17", "h36m17")}

    def _own(self, name: str) -> np.ndarray:
        side = _side(name)
        parts = [p if p in ("head", "neck", "torso", "hips") else f"{side}_{p}" if side else p
                 for p in _KEYPOINT_PARTS[_base(name)]]
        if not side:  # a midline joint: both sides' limbs count for it (the pelvis sits between both thighs)
            parts = [q for p in parts for q in ((p,) if p in ("head", "neck", "torso", "hips") else
                                                (f"left_{p}", f"right_{p}"))]
        return np.flatnonzero(np.isin(self.part, parts))

    def random_phenotype(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(*PHENOTYPE_RANGES[k]) for k in self.body.shape_labels], np.float32)

    def rest_joints(self, phenotype: np.ndarray) -> np.ndarray:
        body = self.body
        with torch.no_grad():
            shape = torch.as_tensor(phenotype, dtype=torch.float32, device=body.device)
            return body.joints(torch.zeros(1, body.layout.dim, device=body.device), body.rest(shape))[0].cpu().numpy()

    def make_person(self, rng: np.random.Generator, h36m_world: np.ndarray, fps: float,
                    options: FitOptions | None = None) -> Person:
        """A random person performing ``h36m_world`` (T, 17, 3) (world, Y up; scaled to the body first)."""
        phenotype = self.random_phenotype(rng)
        scale = float(_size(self.rest_joints(phenotype)[None])[0] / np.median(_size(h36m_world)))
        pelvis = joint_sets.get("h36m17").index("pelvis")
        ground = h36m_world[:, pelvis].copy()
        ground[:, 1] = 0.0
        # Scale about the floor point under the first frame's pelvis so the person stays where the mocap put it.
        anchor = ground[0]
        target = (h36m_world - anchor) * scale + anchor
        fit = fit_track(self.body, target @ F, np.ones(target.shape[:2], np.float32), np.arange(len(target)),
                        fps, options or FitOptions(rounds=2, pose_steps=8), shape=phenotype)
        rot = _rotvec_to_matrix(fit.global_orient)
        orient_world = _matrix_to_rotvec(F @ rot)
        transl_world = fit.transl @ F
        h36m = fit.joints @ F
        person = Person(phenotype, fit.pose, orient_world.astype(np.float32), transl_world.astype(np.float32),
                        h36m.astype(np.float32),
                        dress(rng, self), float(np.nanmean(fit.joint_error)) * 1000,
                        {"scale": float(scale)})
        return person

    def coco(self, vertices: np.ndarray) -> np.ndarray:
        """(n, V, 3) -> (n, 17, 3) COCO-17 keypoints (Anny's regressor)."""
        return np.einsum("kv,nvd->nkd", self.coco_weights, vertices)


def _size(h36m: np.ndarray) -> np.ndarray:
    """(T,) leg + trunk length: what sets a skeleton's height, robust to the pose."""
    js = joint_sets.get("h36m17")
    chain = [("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
             ("left_knee", "left_hip"), ("pelvis", "spine"), ("spine", "thorax"), ("thorax", "neck_nose"),
             ("neck_nose", "head")]
    return sum(np.linalg.norm(h36m[:, js.index(a)] - h36m[:, js.index(b)], axis=-1) for a, b in chain)


# numpy in, numpy out: a few hundred 3x3 matrices, on the CPU whatever the body's device.
def _rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    import roma

    return roma.rotvec_to_rotmat(torch.as_tensor(v, dtype=torch.float64, device="cpu")).numpy()


def _matrix_to_rotvec(m: np.ndarray) -> np.ndarray:
    import roma

    return roma.rotmat_to_rotvec(torch.as_tensor(m, dtype=torch.float64, device="cpu")).numpy()


def _pattern(rng: np.random.Generator, rest: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(V, 3) colours of one garment: plain, stripes or checks in a second colour, on rest-pose coordinates."""
    kind = rng.choice(["plain", "plain", "stripes", "checks"])
    out = np.repeat(base[None], len(rest), 0)
    if kind == "plain":
        return out
    other = rng.uniform(0, 255, 3).astype(np.float32)
    period = rng.uniform(0.04, 0.12)
    if kind == "stripes":
        mask = (np.floor(rest[:, 2] / period) % 2).astype(bool)  # horizontal bands
    else:
        mask = ((np.floor(rest[:, 0] / period) + np.floor(rest[:, 2] / period)) % 2).astype(bool)
    out[mask] = other
    return out


def dress(rng: np.random.Generator, anny: AnnySynth) -> np.ndarray:
    """(V, 3) float32 unlit colours: skin, hair, shirt, trousers, shoes."""
    part, rest = anny.part, anny.rest_vertices
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05)
    colours = np.repeat(np.clip(skin, 0, 255)[None], len(rest), 0).astype(np.float32)
    shirt_parts = {"torso", "left_upperarm", "right_upperarm"}
    if rng.random() < 0.6:
        shirt_parts |= {"left_forearm", "right_forearm"}
    trouser_parts = {"hips", "left_thigh", "right_thigh"}
    if rng.random() < 0.75:
        trouser_parts |= {"left_shin", "right_shin"}
    for parts in (shirt_parts, trouser_parts):
        sel = np.isin(part, list(parts))
        colours[sel] = _pattern(rng, rest[sel], rng.uniform(0, 255, 3).astype(np.float32))
    colours[np.isin(part, ["left_foot", "right_foot"])] = rng.uniform(0, 120, 3)
    if rng.random() < 0.9:  # hair: the head's top and back (Anny faces -y, so the back is +y)
        head = part == "head"
        z0 = rest[head, 2].max()
        y_front = rest[head, 1].min()
        hair = head & ((rest[:, 2] > z0 - rng.uniform(0.06, 0.09)) | (rest[:, 1] > y_front + 0.12))
        colours[hair] = HAIR[rng.integers(len(HAIR))]
    return colours


@functools.cache
def anny_synth(device: str = "cpu") -> AnnySynth:
    return AnnySynth(device)
