"""Rig maps: from a BVH skeleton to H36M-17 (3D targets) and COCO-17 (where a 2D detector puts its points).

A map says, for each target joint, which *sources* to average with which weights (an affine combination, so
weights add up to 1). Sources are rig joints (End Sites as ``<joint>_End``) and virtual head points
``@head_centre @nose @left_eye @right_eye @left_ear @right_ear @head_top`` placed by the head model below.
Maps are JSON; the built-in ones are ``rigmaps/*.json`` (their ``notes`` say why each joint was chosen), a
user's comes through ``load_rig_map`` / ``--rig-map FILE``, and a rig that no built-in map fits gets one made
from its joint names (``guess_rig_map``: Hips/LeftUpLeg/LeftLeg/..., mixamorig:..., CC_Base_L_Thigh, ...)::

    {"name": "my_rig", "units": 0.01, "up": "y",
     "head": {"joint": "Head", "forward": [0, 0, 1], "up": [0, 1, 0], "centre": ["Head"],
              "centre_offset": [0, 0.03, 0]},
     "h36m17": {"pelvis": ["LeftUpLeg", "RightUpLeg"], "spine": {"Spine": 0.5, "Spine1": 0.5}, ...},
     "coco17": {"left_eye": ["LeftEye"]}}

``units`` is metres per file unit and ``up`` the file's up axis (``y``, ``z``, ``-z``, ...); left out, both
are guessed from the motion. ``h36m17`` must name all 17 joints. ``coco17`` may be partial: its body joints
default to the H36M entry of the same name (so COCO hips are the hip *joints*; a detector marks the hip on
the body surface, a few cm lower and outside, which is a known, accepted bias of lifting from COCO), and
its face points default to the head model. ``pelvis`` and the shoulders must use rig joints (the head
frame is calibrated from them). ``head.centre`` (rig joints; default the head joint) plus
``head.centre_offset`` (metres along the head's forward, up, left) is the head centre; without ``head``,
the joint named like "Head" is used with the centre 3 cm above it.

The head model places the face where a detector would: a head frame (forward, up, left) taken from the head
joint's *world rotation* (so nodding and turning the head move the face, which positions alone cannot show)
and an origin, the head centre, at ear-canal level between the ears. ``head.forward``/``head.up`` give the
head joint's local axes; left out, they are read off the zero pose when that is an upright figure (true of
CMU-style skeletons), else calibrated as the average direction of the body's facing seen from the head joint
over the sequence (last resort: a sequence held with the head bowed is then read as looking ahead).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import InputError
from .bvh import Bvh

JOINT_SETS = ("h36m17", "coco17")

# Head model, metres, as (forward, up, left) from the head centre (the midpoint between the ear canals).
# Adult anthropometry (e.g. Farkas 1994; ISO 7250 head breadth ~15 cm, head length ~19.5 cm):
#   ears: half the head breadth to each side; COCO marks the visible ear, about the tragion.
#   eyes: the eyeball centres lie ~8 cm in front of the tragion line and ~2 cm above it (the Frankfort plane
#         runs from the tragion to the lower orbit rim), 6.4 cm apart (interpupillary distance).
#   nose: the tip is ~10.5 cm in front of the ear line and ~2 cm below it.
#   head_top: the crown (vertex) is ~12 cm above the ear line, slightly behind the ears.
# The numbers are not scaled with body size: head size varies far less than stature.
HEAD_MODEL: dict[str, tuple[float, float, float]] = {
    "head_centre": (0.0, 0.0, 0.0),
    "nose": (0.105, -0.02, 0.0),
    "left_eye": (0.08, 0.02, 0.032),
    "right_eye": (0.08, 0.02, -0.032),
    "left_ear": (0.0, 0.0, 0.075),
    "right_ear": (0.0, 0.0, -0.075),
    "head_top": (-0.01, 0.12, 0.0),
}
VIRTUAL = tuple(f"@{k}" for k in HEAD_MODEL)
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_FRAME_TARGETS = ("pelvis", "left_shoulder", "right_shoulder")  # read before the head points exist

# Proper rotations taking the file's up axis to +Y (right-handed in, right-handed out).
_UP = {
    "y": np.eye(3),
    "-y": np.diag([1.0, -1.0, -1.0]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
    "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}
# Length units seen in BVH files, metres each; a guess picks the one giving a ~1.7 m tall figure (they are
# at least a factor 2.2 apart, so a crouching or tall subject cannot flip the choice).
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu_asf": 0.0254 / 0.45}

Sources = dict[str, float]


@dataclass
class HeadSpec:
    joint: str                                    # the rig joint whose world rotation orients the head
    forward: tuple[float, float, float] | None = None  # that joint's local axes; None: derived
    up: tuple[float, float, float] | None = None
    centre: Sources = field(default_factory=dict)  # rig joints whose combination is the head centre
    centre_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres, (forward, up, left), added


@dataclass
class RigMap:
    name: str
    targets: dict[str, dict[str, Sources]]  # joint set -> target -> {source: weight}, as written
    head: HeadSpec | None = None
    units: float | None = None  # metres per file unit; None: guessed
    up: str | None = None       # None: guessed
    description: str = ""
    notes: dict[str, Any] = field(default_factory=dict)
    origin: str = ""            # where the map came from, for messages

    def table(self, joint_set: str) -> dict[str, Sources]:
        """Every target of ``joint_set`` with its sources, defaults filled in (see the module docstring)."""
        given = self.targets.get(joint_set, {})
        if joint_set == "h36m17":
            return dict(given)
        full = {}
        for name in joints.get(joint_set).joints:
            if name in given:
                full[name] = given[name]
            elif name in _FACE:
                full[name] = {f"@{name}": 1.0}
            else:
                full[name] = self.targets["h36m17"][name]
        return full

    def rig_joints(self) -> set[str]:
        """Every rig joint the map reads (what a BVH must have for the map to fit)."""
        used = {s for js in JOINT_SETS for src in self.table(js).values() for s in src if not s.startswith("@")}
        if self.head is not None:
            used |= {self.head.joint, *self.head.centre}
        return used

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        if self.units is not None:
            doc["units"] = self.units
        if self.up is not None:
            doc["up"] = self.up
        if self.head is not None:
            h = self.head
            doc["head"] = {"joint": h.joint, **({"forward": list(h.forward), "up": list(h.up)} if h.forward else {}),
                           "centre": h.centre, "centre_offset": list(h.centre_offset)}
        for js in JOINT_SETS:
            if js in self.targets:
                doc[js] = self.targets[js]
        if self.notes:
            doc["notes"] = self.notes
        return doc


# ---------------------------------------------------------------------------------------------- reading maps

def load_rig_map(path: str | Path) -> RigMap:
    """A user's JSON rig map; any problem raises ``InputError`` naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read rig map ({exc.strerror or exc})", "check the path", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"rig map is not valid JSON ({exc})", "fix the JSON syntax", path) from None
    return rig_map_from_dict(doc, path)


def save_rig_map(rig: RigMap, path: str | Path) -> None:
    """Write ``rig`` as JSON that ``load_rig_map`` reads back to the same map (a template to edit)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rig.to_dict(), indent=2) + "\n")


def rig_map_from_dict(doc: Any, origin: str | Path) -> RigMap:
    def fail(problem: str, fix: str = "see posecli.mocap.rigs for the rig-map format") -> InputError:
        return InputError(f"rig map: {problem}", fix, origin)

    if not isinstance(doc, dict):
        raise fail("the top level must be a JSON object")
    unknown = set(doc) - {"name", "description", "units", "up", "head", "notes", *JOINT_SETS}
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}",
                   "allowed: name, description, units, up, head, h36m17, coco17, notes")
    if not isinstance(doc.get("h36m17"), dict):
        raise fail("no 'h36m17' object", "map all 17 H36M joints: " + ", ".join(joints.get("h36m17").joints))
    targets = {}
    for js in JOINT_SETS:
        if js not in doc:
            continue
        if not isinstance(doc[js], dict):
            raise fail(f"'{js}' must be an object of target -> sources")
        names = joints.get(js).joints
        bad = set(doc[js]) - set(names)
        if bad:
            raise fail(f"'{js}' has unknown joint(s) {sorted(bad)}", f"{js} joints: {', '.join(names)}")
        targets[js] = {t: _sources(v, f"{js}.{t}", fail) for t, v in doc[js].items()}
    missing = [t for t in joints.get("h36m17").joints if t not in targets["h36m17"]]
    if missing:
        raise fail(f"'h36m17' lacks {', '.join(missing)}", "every H36M-17 joint needs sources")
    virtual = [t for t in _FRAME_TARGETS if any(s.startswith("@") for s in targets["h36m17"][t])]
    if virtual:
        raise fail(f"h36m17 {', '.join(virtual)} must use rig joints", "the head frame is built from them")
    units = doc.get("units")
    if units is not None and (isinstance(units, bool) or not isinstance(units, (int, float)) or units <= 0):
        raise fail(f"'units' must be a positive number of metres per file unit, got {units!r}", "e.g. 0.01 for cm")
    up = doc.get("up")
    if up is not None and up not in _UP:
        raise fail(f"'up' must be one of {', '.join(_UP)}, got {up!r}")
    rig = RigMap(str(doc.get("name") or Path(str(origin)).stem), targets, _head_spec(doc.get("head"), fail),
                 None if units is None else float(units), up, str(doc.get("description", "")),
                 dict(doc.get("notes") or {}), str(origin))
    return rig  # without 'head', the head joint is found by name when the map is applied


def _sources(value: Any, where: str, fail) -> Sources:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        out = {v: 1.0 / len(value) for v in value}
    elif isinstance(value, dict) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in value.values()):
        out = {str(k): float(v) for k, v in value.items()}
    else:
        raise fail(f"{where}: sources must be a non-empty list of joint names or an object name -> weight")
    if abs(sum(out.values()) - 1.0) > 1e-3:
        raise fail(f"{where}: weights add up to {sum(out.values()):g}", "weights must add up to 1")
    bad = [s for s in out if s.startswith("@") and s not in VIRTUAL]
    if bad:
        raise fail(f"{where}: unknown virtual point(s) {bad}", f"known: {', '.join(VIRTUAL)}")
    return out


def _vector(value: Any, where: str, fail) -> tuple[float, float, float]:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise fail(f"{where} must be three numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


def _head_spec(doc: Any, fail) -> HeadSpec | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("joint"), str):
        raise fail("'head' must be an object with a 'joint' name")
    unknown = set(doc) - {"joint", "forward", "up", "centre", "centre_offset"}
    if unknown:
        raise fail(f"'head' has unknown key(s) {sorted(unknown)}", "allowed: joint, forward, up, centre, centre_offset")
    if ("forward" in doc) != ("up" in doc):
        raise fail("'head' needs both 'forward' and 'up' (the head joint's local axes) or neither")
    forward = up = None
    if "forward" in doc:
        forward, up = _vector(doc["forward"], "head.forward", fail), _vector(doc["up"], "head.up", fail)
        f, u = np.array(forward), np.array(up)
        if np.linalg.norm(np.cross(f, u)) < 1e-3 * np.linalg.norm(f) * np.linalg.norm(u) + 1e-12:
            raise fail("head.forward and head.up are parallel or zero")
    centre = _sources(doc.get("centre", [doc["joint"]]), "head.centre", fail)
    if any(s.startswith("@") for s in centre):
        raise fail("head.centre must use rig joints, not virtual points")
    offset = _vector(doc.get("centre_offset", [0, 0, 0]), "head.centre_offset", fail)
    return HeadSpec(doc["joint"], forward, up, centre, offset)


@cache
def builtin_rig_maps() -> tuple[RigMap, ...]:
    """The maps shipped in ``posecli/mocap/rigmaps``, the one reading most joints first so that a rig is
    matched by its most specific map. Shared objects: do not modify them."""
    folder = resources.files(__package__) / "rigmaps"
    maps = [rig_map_from_dict(json.loads(f.read_text()), f"built-in {f.name}")
            for f in folder.iterdir() if f.name.endswith(".json")]
    return tuple(sorted(maps, key=lambda m: (-len(m.rig_joints()), m.name)))


def rig_map_for(bvh: Bvh, rig: RigMap | str | Path | None = None) -> RigMap:
    """The map to use for ``bvh``: the one given (a map, a built-in's name or a JSON path), else the first
    built-in whose joints the file has, else one guessed from the joint names."""
    if isinstance(rig, RigMap):
        return rig
    if rig is not None:
        return named_rig_map(rig)
    names = set(bvh.names)
    for m in builtin_rig_maps():
        if m.rig_joints() <= names:
            return m
    return guess_rig_map(bvh)


def named_rig_map(rig: str | Path) -> RigMap:
    """A built-in map by name (``cmu_iclone``, ``cmu_asf``), else a JSON rig-map file."""
    named = [m for m in builtin_rig_maps() if m.name == str(rig)]
    return named[0] if named else load_rig_map(rig)


# -------------------------------------------------------------------------------------- maps from joint names

# Aliases per body part, in priority order, as lower-case alphanumerics without side. Order matters where
# naming schemes collide: in MotionBuilder/mixamo naming LeftShoulder is the clavicle and LeftArm the
# shoulder joint, in CMU's BVH LeftShoulder is the shoulder joint and there is no LeftArm.
_LIMB_ALIASES = {
    "hip": ("upleg", "thigh", "upperleg", "hip", "femur"),
    "knee": ("leg", "knee", "calf", "shin", "lowerleg", "tibia"),
    "ankle": ("foot", "ankle"),
    "shoulder": ("arm", "upperarm", "humerus", "shoulder"),
    "elbow": ("forearm", "lowerarm", "elbow", "radius"),
    "wrist": ("hand", "wrist"),
}
_NECK_ALIASES = ("neck", "neck1", "neck01", "necktwist01", "lowerneck")
_SIDE_WORDS = {"left": ("left", "l"), "right": ("right", "r")}
_PREFIXES = ("ccbase", "bip001", "bip01", "mixamorig", "def")


def _normalise(name: str) -> str:
    """'mixamorig:LeftUpLeg' -> 'leftupleg', 'CC_Base_L_Thigh' -> 'lthigh', 'Bip01 L Thigh' -> 'lthigh'."""
    key = re.sub(r"[^a-z0-9]", "", name.rsplit(":", 1)[-1].lower())
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix):]
    return key


def guess_rig_map(bvh: Bvh) -> RigMap:
    """A map from common joint names; ``InputError`` naming the file and the missing parts if it cannot."""
    by_key: dict[str, str] = {}
    for n in bvh.names:
        by_key.setdefault(_normalise(n), n)

    def find(*keys: str) -> str | None:
        return next((by_key[k] for k in keys if k in by_key), None)

    found: dict[str, str] = {}
    missing = []
    for part, aliases in _LIMB_ALIASES.items():
        for side, words in _SIDE_WORDS.items():
            hit = find(*[k for a in aliases for w in words for k in (w + a, a + w)])
            if hit is None:
                missing.append(f"{side}_{part}")
            else:
                found[f"{side}_{part}"] = hit
    if missing:
        raise InputError(f"unknown rig: no joint found by name for {', '.join(missing)} among the file's "
                         f"{len(bvh.names)} joints ({_some_names(bvh)})",
                         "write a rig map naming which of them to use (JSON, see posecli.mocap.rigs; "
                         "posecli/mocap/rigmaps/ has examples) and pass it with --rig-map FILE", bvh.path)
    head_spec = guess_head(bvh)
    head = head_spec.joint
    neck = find(*_NECK_ALIASES)
    h36m: dict[str, Sources] = {t: {j: 1.0} for t, j in found.items()}
    h36m["pelvis"] = {found["left_hip"]: 0.5, found["right_hip"]: 0.5}
    # The neck base is the thorax; without a neck joint, the shoulder midpoint is the nearest stand-in.
    h36m["thorax"] = {neck: 1.0} if neck else {found["left_shoulder"]: 0.5, found["right_shoulder"]: 0.5}
    spine: Sources = {}
    for src in (h36m["pelvis"], h36m["thorax"]):  # half way between pelvis and thorax
        for k, w in src.items():
            spine[k] = spine.get(k, 0.0) + 0.5 * w
    h36m["spine"] = spine
    h36m["neck_nose"] = {head: 0.5, "@nose": 0.5}
    h36m["head"] = {f"{head}_End": 1.0} if f"{head}_End" in bvh.names else {"@head_top": 1.0}
    order = joints.get("h36m17").joints
    return RigMap("by-name", {"h36m17": {t: h36m[t] for t in order}}, head_spec,
                  description="made from joint names", origin=f"joint names of {bvh.path.name}")


def _some_names(bvh: Bvh, n: int = 12) -> str:
    names = [x for x in bvh.names if not x.endswith("_End")]
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def guess_head(bvh: Bvh) -> HeadSpec:
    """The head joint found by name, local axes to be derived, centre 3 cm above it: rigs put that joint
    between the skull base (iClone, mixamo: ~6 cm below ear level) and the top of the neck at about ear
    level (CMU); 3 cm splits the difference."""
    head = next((n for n in bvh.names if _normalise(n) == "head"), None)
    if head is None:
        raise InputError(f"unknown rig: no joint named like 'Head' among {_some_names(bvh)}",
                         "write a rig map (JSON, see posecli.mocap.rigs) and pass it with --rig-map FILE", bvh.path)
    return HeadSpec(head, None, None, {head: 1.0}, (0.0, 0.03, 0.0))


# -------------------------------------------------------------------------------------------- applying maps

@dataclass
class Mapped:
    """A BVH's motion through a rig map: metres, Y up, in the file's horizontal placement (no floor shift)."""

    joints: dict[str, np.ndarray]  # joint set -> (N, 17, 3)
    body: np.ndarray               # (N, K, 3) rig joints at or below those the map reads (``_body_joints``)
    body_names: list[str]          # their names
    units: float
    up: str
    rig_name: str
    units_from: str = "rig map"  # or "the skeleton's height" (guessed)

    @property
    def units_name(self) -> str:
        """'cm', 'inch', 'cmu_asf', ... when the factor is a known unit, else the factor in metres."""
        return next((n for n, u in UNITS.items() if np.isclose(u, self.units)), f"{self.units:g} m")


def map_bvh(bvh: Bvh, rig: RigMap | str | Path | None = None, frames: np.ndarray | slice | None = None) -> Mapped:
    """Map ``bvh`` (optionally only ``frames``) to H36M-17 and COCO-17 in metres with Y up."""
    rig = rig_map_for(bvh, rig)
    tables = {js: rig.table(js) for js in JOINT_SETS}
    virtual = any(s.startswith("@") for t in tables.values() for srcs in t.values() for s in srcs)
    head = (rig.head or guess_head(bvh)) if virtual else None
    absent = sorted({*rig.rig_joints(), *([head.joint, *head.centre] if head else [])} - set(bvh.names))
    if absent:
        raise InputError(f"rig map {rig.name!r} ({rig.origin}) uses joint(s) {', '.join(absent)} that the file lacks",
                         "pass a rig map for this skeleton with --rig-map FILE", bvh.path)
    pos, rot = bvh.fk(frames)
    index = {n: i for i, n in enumerate(bvh.names)}
    h36m = tables["h36m17"]
    shoulders = 0.5 * (_combine(pos, h36m["left_shoulder"], index) + _combine(pos, h36m["right_shoulder"], index))
    up = rig.up or _guess_up(_combine(pos, h36m["pelvis"], index), shoulders)
    up_file = _UP[up].T @ np.array([0.0, 1.0, 0.0])
    units = rig.units or _guess_units(pos, up_file)
    if head is not None:
        pos = np.concatenate([pos, _head_points(bvh, head, h36m, pos, rot, index, units, up_file)], axis=1)
        index.update({v: len(bvh.names) + k for k, v in enumerate(VIRTUAL)})
    convert = units * _UP[up]
    out = {js: np.stack([_combine(pos, table[t], index) for t in joints.get(js).joints], axis=1) @ convert.T
           for js, table in tables.items()}
    body = _body_joints(bvh, {*rig.rig_joints(), *([head.joint] if head else [])})
    return Mapped(out, pos[:, body] @ convert.T, [bvh.names[k] for k in body], units, up, rig.name,
                  "rig map" if rig.units else "the skeleton's height")


def _body_joints(bvh: Bvh, used: set[str]) -> list[int]:
    """Indices of the joints the map reads and all below them (toes, fingers), for the floor. Left out: what
    lies above, such as the reference root at floor level that some exports (RL_BoneRoot) put first, and
    End Sites, extrapolated tips (CMU's toe tips pivot 5 cm into the floor at push-off)."""
    inside = np.zeros(len(bvh.names), dtype=bool)
    for k, (name, p) in enumerate(zip(bvh.names, bvh.parents, strict=True)):  # parents first: one pass
        inside[k] = name in used or (p >= 0 and inside[p])
    return [k for k in range(len(bvh.names)) if inside[k] and bvh.channels[k]]


def _combine(points: np.ndarray, sources: Sources, index: dict[str, int]) -> np.ndarray:
    """Weighted sum of the source points; ``points`` is (..., J, 3)."""
    return sum(w * points[..., index[s], :] for s, w in sources.items())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _guess_up(pelvis: np.ndarray, shoulders: np.ndarray) -> str:
    v = (shoulders - pelvis).mean(0)
    axis = int(np.argmax(np.abs(v)))
    return ("-" if v[axis] < 0 else "") + "xyz"[axis]


def _guess_units(pos: np.ndarray, up_file: np.ndarray) -> float:
    heights = pos @ up_file
    stature = float(np.median(heights.max(1) - heights.min(1)))
    return min(UNITS.values(), key=lambda u: abs(np.log(max(stature * u, 1e-9) / 1.7)))


def _head_points(bvh: Bvh, head: HeadSpec, h36m: dict[str, Sources], pos: np.ndarray, rot: np.ndarray,
                 index: dict[str, int], units: float, up_file: np.ndarray) -> np.ndarray:
    """(N, V, 3) virtual head points, ``VIRTUAL`` order, in the file's units and axes."""
    h = index[head.joint]
    if head.forward is not None:
        f_loc, u_loc = np.array(head.forward, float), np.array(head.up, float)
    else:
        f_loc, u_loc = _derive_head_axes(bvh, h, h36m, pos, rot[:, h], index, up_file)
    f_loc = _unit(f_loc)
    u_loc = _unit(u_loc - (u_loc @ f_loc) * f_loc)  # Gram-Schmidt: forward wins, up is made orthogonal
    fwd = rot[:, h] @ f_loc
    up = rot[:, h] @ u_loc
    left = np.cross(up, fwd)  # right-handed: facing +z with +y up, the figure's left is +x
    axes = np.stack([fwd, up, left], axis=1) / units  # (N, 3, 3): one metre along each head axis, file units
    centre = _combine(pos, head.centre, index) + np.einsum("k,nkd->nd", np.asarray(head.centre_offset), axes)
    model = np.array(list(HEAD_MODEL.values()))  # (V, 3) metres
    return centre[:, None, :] + np.einsum("vk,nkd->nvd", model, axes)


def _derive_head_axes(bvh: Bvh, h: int, h36m: dict[str, Sources], pos: np.ndarray, rot_head: np.ndarray,
                      index: dict[str, int], up_file: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head joint's local forward and up: from an upright zero pose, else calibrated over the motion."""
    rest = bvh.rest_positions()
    rise = _unit(rest[h] - _combine(rest, h36m["pelvis"], index))
    across = _unit(_combine(rest, h36m["left_shoulder"], index) - _combine(rest, h36m["right_shoulder"], index))
    if rise @ up_file > 0.9 and abs(across @ up_file) < 0.3:
        # An upright zero pose: all world rotations are the identity there, so local axes = world axes.
        left = _unit(across - (across @ up_file) * up_file)
        return np.cross(left, up_file), up_file
    across_t = _combine(pos, h36m["left_shoulder"], index) - _combine(pos, h36m["right_shoulder"], index)
    left_t = _unit(across_t - np.outer(across_t @ up_file, up_file))
    facing_t = np.cross(left_t, up_file)
    f_loc = np.einsum("nji,nj->i", rot_head, facing_t)  # sum over frames of R^T facing: facing in head axes
    u_loc = np.einsum("nji,j->i", rot_head, up_file)
    if np.linalg.norm(f_loc) < 0.1 * len(rot_head):
        raise InputError("cannot tell which way the head faces (the head turns all over relative to the shoulders)",
                         "give head.forward and head.up in a rig map (--rig-map FILE)", bvh.path)
    return f_loc, u_loc
