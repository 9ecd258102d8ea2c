"""Shared code for fuzzing every file reader (issue 21): valid seed files, hypothesis strategies that mutate
them, and :func:`check`, which runs one reader on one input under a hang guard.

Used by ``tests/test_fuzz_readers.py`` (a short pass, fixed seed) and ``bench/fuzz_readers.py`` (the long run).

An input passes when the reader returns a valid result (checked with the data model's ``validate`` or the
shape/finiteness the result must have) or raises posecli's own one-line :class:`PoseCliError`. Anything else
fails: another exception, a multi-line message, a run over :data:`HANG_SECONDS`, an invalid result, or an NPZ
whose object array got unpickled (a trap object in it creates a marker file if it is ever unpickled).
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import tempfile
import time
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

READERS = ("native_npz", "native_json", "coco_json", "vp3d_npz", "trc", "csv", "bvh", "openpose",
           "calibration", "manifest")
SUFFIX = {"native_npz": ".npz", "native_json": ".json", "coco_json": ".json", "vp3d_npz": ".npz", "trc": ".trc",
          "csv": ".csv", "bvh": ".bvh", "calibration": ".toml", "manifest": ".json"}
HANG_SECONDS = 5
# A pickled object whose unpickling creates this file: a reader that unpickles is caught red-handed.
TRAP_MARKER = Path(tempfile.gettempdir()) / f"posecli_fuzz_unpickled_{os.getpid()}"


class _Trap:
    def __reduce__(self):
        return (open, (str(TRAP_MARKER), "w"))


# ---------------------------------------------------------------------------------------------- seed files

BVH_SEED = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.00 90.00 0.00
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Spine
\t{
\t\tOFFSET 0.00 10.00 0.00
\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\tJOINT Head
\t\t{
\t\t\tOFFSET 0.00 40.00 0.00
\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.00 15.00 0.00
\t\t\t}
\t\t}
\t}
\tJOINT LeftUpLeg
\t{
\t\tOFFSET 10.00 0.00 0.00
\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\tJOINT LeftLeg
\t\t{
\t\t\tOFFSET 0.00 -45.00 0.00
\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.00 -45.00 0.00
\t\t\t}
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.033333
0.0 90.0 0.0 0.0 0.0 0.0 5.0 0.0 0.0 1.0 2.0 3.0 10.0 0.0 0.0 -20.0 0.0 0.0
1.0 90.5 0.0 1.0 0.0 0.0 6.0 0.0 0.0 1.5 2.0 3.0 12.0 0.0 0.0 -25.0 0.0 0.0
2.0 91.0 0.0 2.0 0.0 0.0 7.0 0.0 0.0 2.0 2.0 3.0 14.0 0.0 0.0 -30.0 0.0 0.0
"""


def seed_poses():
    """2 tracks, 4 frames each, a 2D COCO-17 and a 3D H36M-17 layer, one missing joint (NaN, confidence 0)."""
    from posecli.poses import BOXES, KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track

    rng = np.random.default_rng(0)
    tracks = []
    for tid in range(2):
        frames = np.array([0, 1, 2, 4]) + tid
        pts = rng.uniform(10, 600, (4, 17, 2)).astype(np.float32).round(2)
        conf = rng.uniform(0.1, 1.0, (4, 17)).astype(np.float32).round(2)
        pts[1, 3], conf[1, 3] = np.nan, 0.0
        p3 = rng.normal(0, 0.5, (4, 17, 3)).astype(np.float32).round(3)
        p3[2, 5], c3 = np.nan, np.ones((4, 17), np.float32)
        c3[2, 5] = 0.0
        boxes = np.concatenate([np.nanmin(pts, 1), np.nanmax(pts, 1)], 1)
        tracks.append(Track(tid + 1, frames, frames / 30.0,
                            {KEYPOINTS_2D: Keypoints("coco17", pts, conf), KEYPOINTS_3D: Keypoints("h36m17", p3, c3)},
                            {BOXES: boxes}, {"note": "x"}))
    return Poses(tracks, fps=30.0, width=640, height=480, num_frames=6, source="clip.mp4",
                 camera={"K": np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])}, meta={"command": "fuzz"})


def _openpose_people(rng, n_people):
    people = []
    for _ in range(n_people):
        kp = np.round(rng.uniform(1, 600, (25, 3)), 2)
        kp[:, 2] = np.round(rng.uniform(0.1, 1, 25), 2)
        kp[3] = 0  # a missing joint
        people.append({"person_id": [-1], "pose_keypoints_2d": kp.reshape(-1).tolist(),
                       "face_keypoints_2d": [], "hand_left_keypoints_2d": []})
    return people


def seed_manifest() -> dict:
    name = "clip_0000"
    return {"schema": "posecli.synth", "version": 1, "posecli": "0.1.0",
            "options": {"views": 2, "persons": 1, "width": 640, "height": 480, "frames": 30, "seed": 0,
                        "follow": False, "truncate": 0.0, "occluders": 0},
            "mocap": "cmu", "backgrounds": [],
            "clips": [{"name": name, "frames": 30, "fps": 30.0, "calibration": f"{name}/calibration.toml",
                       "people": [{"id": 1, "sequence": "01_01", "start": 0, "phenotype": {"age": 0.5},
                                   "mocap_scale": 1.0, "fit_error_mm": 3.2}],
                       "views": [{"name": c, "video": f"{name}/{c}.mp4", "poses": f"{name}/{c}.npz",
                                  "following": False, "truncating": False, "visible_fraction": 0.9,
                                  "whole_body_in_frame": 1.0} for c in ("cam_01", "cam_02")],
                       "lighting": {"kind": "sun"}, "occluders": []}]}


@cache
def seeds() -> dict[str, list[Any]]:
    """Per reader, its valid seed inputs: bytes of one file, or {file name: bytes} for an OpenPose folder."""
    from posecli.formats import write_poses
    from posecli.synth.rig import RigCamera, write_calibration
    from posecli.synth2d.cameras import intrinsics, look_at_rotation

    poses = seed_poses()
    out: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def made(name, fmt, **kw):
            write_poses(poses, tmp / name, fmt, **kw)
            return (tmp / name).read_bytes()

        npz = made("p.npz", "npz")
        vp3d = made("v.npz", "vp3d")
        out["native_npz"] = [npz, _restored(npz, compress=False)]
        out["vp3d_npz"] = [vp3d, _restored(vp3d, compress=False)]
        out["native_json"] = [made("p.json", "json")]
        out["coco_json"] = [made("c.json", "coco-json")]
        out["trc"] = [made("p.trc", "trc", track=1)]
        out["csv"] = [made("p.csv", "csv"), made("p3.csv", "csv", layer="keypoints3d")]
        rng = np.random.default_rng(1)
        cams = []
        for i in range(2):
            R = look_at_rotation(rng.normal(size=3) * [1, 0.2, 1], rng.uniform(-0.5, 0.5))
            cams.append(RigCamera(f"cam_{i + 1:02d}", intrinsics(rng.uniform(300, 900), 640, 480), R[None],
                                  rng.normal(size=3)[None], 640, 480))
        write_calibration(tmp / "calib.toml", cams)
        out["calibration"] = [(tmp / "calib.toml").read_bytes()]
    out["bvh"] = [BVH_SEED.encode()]
    out["manifest"] = [json.dumps(seed_manifest(), indent=2).encode()]
    folder = {}
    for f in range(3):
        doc = {"version": 1.3, "people": _openpose_people(rng, 2 if f != 1 else 1)}
        folder[f"cam01_{f:012d}_keypoints.json"] = json.dumps(doc).encode()
    folder[f"cam01_{3:012d}_keypoints.json"] = json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": []}]}).encode()
    out["openpose"] = [folder]
    return out


def _load_arrays(data: bytes) -> dict[str, Any]:
    """The arrays of an NPZ (object arrays unpacked: only ever used on our own seeds)."""
    with np.load(io.BytesIO(data), allow_pickle=True) as z:
        return {k: z[k] for k in z.files}


def _save_arrays(arrays: dict[str, Any], compress: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


def _restored(data: bytes, compress: bool) -> bytes:
    return _save_arrays(_load_arrays(data), compress)


# ---------------------------------------------------------------------------------------------- strategies

NUMBERS = ["NaN", "nan", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e308", "-1e308", "1e309", "-1", "0",
           "-0", "1e-320", "99999999999999999999999999", "-99999999999999999999", "4294967296", "2147483648",
           "1.5", "0x10", "1_000", "abc", "", " ", "null", "true", "\"x\"", "[]", "{}", "[1, 2]", "'", "1e5",
           "9" * 400, "9" * 5000]
INTERESTING_BYTES = [b"\x00", b"\xff\xff\xff\xff", b"\n", b"\r\n", b"\t", b",", b"{", b"}", b"[", b"]", b"\"",
                     b"9" * 30, b"-", b"e999", b"nan", b"\xc3", b"\xe9", b"\\", b"#", b"=", b":", b"  "]
WEIRD_VALUES = [None, True, False, -1, 0, 1, 2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30), 1e308, -1e308,
                float("nan"), float("inf"), float("-inf"), 0.5, "", "x", "nan", "1", [], {}, [[[]]], [1, 2, 3],
                {"a": 1}, [None], [[1.0, 2.0], [3.0]], list(range(40)), "\u00e9\ud7ff"]
_NUMBER_RE = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD_RE = re.compile(rb"[A-Za-z_][A-Za-z_0-9]*")


@st.composite
def mutate_bytes(draw, data: bytes) -> bytes:
    """One byte-level change: truncate, flip bits, insert/delete/duplicate bytes, re-encode, add a BOM."""
    op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate", "encode", "bom", "empty"]))
    n = len(data)
    if op == "empty" or n == 0:
        return b""
    if op == "truncate":
        return data[:draw(st.integers(0, n - 1))]
    if op == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if op == "insert":
        pos = draw(st.integers(0, n))
        payload = draw(st.sampled_from(INTERESTING_BYTES) | st.binary(min_size=1, max_size=12))
        return data[:pos] + payload * draw(st.integers(1, 3)) + data[pos:]
    start = draw(st.integers(0, n - 1))
    length = draw(st.integers(1, max(1, min(64, n - start))))
    if op == "delete":
        return data[:start] + data[start + length:]
    if op == "duplicate":
        return data[:start + length] + data[start:start + length] * draw(st.integers(1, 4)) + data[start + length:]
    text = data.decode("utf-8", errors="replace")
    if op == "encode":
        codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
        if codec in ("latin-1", "cp1252"):
            text = text.replace("a", "\u00e9", 1)
        return text.encode(codec, errors="replace")
    return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data


@st.composite
def mutate_text(draw, data: bytes) -> bytes:
    """One line/token-level change of a text file: drop, duplicate or swap lines; a number becomes NaN, inf,
    1e308, -1, a huge int or not a number; a word becomes another word or value."""
    op = draw(st.sampled_from(["drop_line", "dup_line", "swap_lines", "number", "number", "word", "repeat"]))
    lines = data.split(b"\n")
    if op in ("drop_line", "dup_line", "swap_lines", "repeat"):
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, lines[i])
        elif op == "repeat":
            lines[i:i + 1] = [lines[i]] * draw(st.integers(2, 60))
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    spans = list((_NUMBER_RE if op == "number" else _WORD_RE).finditer(data))
    if not spans:
        return data
    m = spans[draw(st.integers(0, len(spans) - 1))]
    if op == "number":
        new = draw(st.sampled_from(NUMBERS).map(str.encode)
                   | st.integers(-(2 ** 70), 2 ** 70).map(lambda v: str(v).encode())
                   | st.floats(allow_nan=True, allow_infinity=True).map(lambda v: repr(v).encode()))
    else:
        new = draw(st.sampled_from(NUMBERS + ["x", "HIERARCHY", "MOTION", "End", "JOINT", "ROOT", "CHANNELS",
                                              "OFFSET", "{", "}", "Frames:", "track_id", "frame", "time",
                                              "schema", "people", "name"]).map(str.encode))
    return data[:m.start()] + new + data[m.end():]


def _paths(obj: Any, prefix: tuple = (), out: list | None = None, limit: int = 4000) -> list[tuple]:
    """Every path into a JSON-like tree (dicts, lists; NPZ trees also tuples and arrays as leaves)."""
    out = [] if out is None else out
    out.append(prefix)
    if len(out) < limit:
        if isinstance(obj, dict):
            for k, v in obj.items():
                _paths(v, prefix + (k,), out, limit)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                _paths(v, prefix + (i,), out, limit)
    return out


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutate_tree(draw, tree: Any, values: st.SearchStrategy) -> Any:
    """One change at a random place of a (deep-copied) JSON-like tree: replace a value, delete it, add a key,
    wrap it in a list, duplicate a list element."""
    import copy

    tree = copy.deepcopy(tree)
    paths = _paths(tree)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    op = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap", "dup"]))
    if not path:
        return draw(values) if op == "replace" else [tree] if op == "wrap" else tree
    parent, key = _get(tree, path[:-1]), path[-1]
    if op == "replace":
        parent[key] = draw(values)
    elif op == "delete":
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "tracks", "people", "schema", "1", ""]))] = draw(values)
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "dup" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    return tree


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


@st.composite
def mutate_json(draw, data: bytes) -> bytes:
    try:
        tree = json.loads(data)
    except ValueError:  # already mutated past JSON: fall back to a text change
        return draw(mutate_text(data))
    for _ in range(draw(st.integers(1, 3))):
        tree = draw(mutate_tree(tree, st.sampled_from(WEIRD_VALUES)))
    return _json_bytes(tree)


# ---- NPZ ----

def weird_arrays() -> st.SearchStrategy:
    """Arrays of wrong dtypes and shapes, with NaN/inf and huge values, and pickled object arrays."""
    shapes = st.sampled_from([(), (0,), (1,), (3,), (4, 17), (4, 17, 2), (4, 17, 3), (4, 32, 3), (2, 2, 2, 2),
                              (0, 17, 2), (5, 17, 2), (1, 1)])
    dtypes = st.sampled_from(["f4", "f8", "f2", "i1", "i8", "u1", "?", "c8", "U3", "S2", "M8[s]", "V4"])

    @st.composite
    def numeric(draw):
        shape, dtype = draw(shapes), draw(dtypes)
        fill = draw(st.sampled_from([0, 1, -1, np.nan, np.inf, -np.inf, 1e38, 1e300]))
        a = np.zeros(shape, dtype="f8")
        a[...] = fill if dtype[0] in "fc" else 0
        return a.astype(dtype) if dtype[0] not in "UVSM" else np.zeros(shape, dtype)

    objects = st.sampled_from([
        lambda: np.array([_Trap()], dtype=object),
        lambda: np.array({"a": np.zeros(3)}, dtype=object),
        lambda: np.array([None, 1, "x"], dtype=object),
        lambda: np.array(_Trap(), dtype=object),
    ]).map(lambda f: f())
    return numeric() | objects | st.sampled_from(["x", "posecli.poses", 10 ** 6, -1]).map(np.array)


@st.composite
def reshaped(draw, a: np.ndarray) -> np.ndarray:
    if a.dtype == object or a.ndim == 0:
        return a
    op = draw(st.sampled_from(["ravel", "add_axis", "slice", "swap", "dtype", "nan", "inf", "huge", "neg"]))
    if op == "ravel":
        return a.ravel()
    if op == "add_axis":
        return a[None]
    if op == "slice":
        return a[:draw(st.integers(0, max(0, len(a) - 1)))]
    if op == "swap":
        return a.swapaxes(0, -1)
    if op == "dtype":
        return a.astype(draw(st.sampled_from(["i1", "u8", "f2", "c8", "U4", "?", "O"])))
    b = np.array(a, dtype="f8" if a.dtype.kind not in "f" else a.dtype)
    if b.size:
        b.flat[draw(st.integers(0, b.size - 1))] = {"nan": np.nan, "inf": np.inf, "huge": 1e300,
                                                     "neg": -1e6}[op]
    return b


def _huge_npy(key: str) -> tuple[str, bytes]:
    """A .npy member whose header declares ~8 TB of float64 but holds 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
    return key + ".npy", buf.getvalue() + b"\0" * 16


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


@st.composite
def mutate_npz(draw, data: bytes, vp3d: bool) -> bytes:
    """Rebuild the archive with a key dropped or added, an array of the wrong dtype/shape or with NaN/inf, a
    pickled object array (a trap), a mutated header, or a member that declares a huge shape."""
    arrays = _load_arrays(data)
    keys = sorted(arrays)
    op = draw(st.sampled_from(["drop", "extra", "replace", "reshape", "reshape", "huge", "tree" if vp3d else "header",
                               "tree" if vp3d else "reshape"]))
    key = draw(st.sampled_from(keys))
    if op == "drop":
        del arrays[key]
    elif op == "extra":
        arrays[draw(st.sampled_from(["extra", "positions_2d", "positions_3d", "schema", "header", "metadata"]))] = \
            draw(weird_arrays())
    elif op == "replace":
        arrays[key] = draw(weird_arrays())
    elif op == "reshape":
        arrays[key] = draw(reshaped(arrays[key]))
    elif op == "header":
        header = str(arrays["header"])
        arrays["header"] = np.array(draw(mutate_json(header.encode())).decode()
                                    if draw(st.booleans()) else draw(mutate_text(header.encode())).decode("utf-8",
                                                                                                         "replace"))
    elif op == "tree":
        key = draw(st.sampled_from([k for k in keys if arrays[k].dtype == object] or keys))
        tree = arrays[key].item() if arrays[key].dtype == object else arrays[key]
        values = st.sampled_from(WEIRD_VALUES) | weird_arrays() | (
            st.sampled_from([a for a in _leaf_arrays(tree)] or [np.zeros(3)]).flatmap(reshaped))
        arrays[key] = np.array(draw(mutate_tree(tree, values)), dtype=object) \
            if not isinstance(tree, np.ndarray) else draw(reshaped(tree))
        if arrays[key].dtype == object and arrays[key].ndim:  # keep a dict a 0-d object array, as VideoPose3D does
            holder = np.empty((), dtype=object)
            holder[()] = arrays[key].tolist() if arrays[key].ndim else arrays[key].item()
            arrays[key] = holder
    elif op == "huge":
        members = {k + ".npy": _npy(v) for k, v in arrays.items()}
        name, blob = _huge_npy(key)
        members[name] = blob
        return _zip(members)
    return _save_arrays(arrays, compress=draw(st.booleans()))


def _leaf_arrays(tree: Any) -> list[np.ndarray]:
    out = []
    for path in _paths(tree):
        v = _get(tree, path)
        if isinstance(v, np.ndarray):
            out.append(v)
    return out[:20]


@st.composite
def mutated_file(draw, reader: str) -> bytes:
    seed = draw(st.sampled_from(seeds()[reader]))
    if reader in ("native_npz", "vp3d_npz"):
        structure = mutate_npz(seed, reader == "vp3d_npz")
    elif reader in ("native_json", "coco_json", "manifest"):
        structure = mutate_json(seed) | mutate_text(seed)
    else:
        structure = mutate_text(seed)
    kind = draw(st.sampled_from(["bytes", "structure", "structure", "both"]))
    if kind == "bytes":
        return draw(mutate_bytes(seed))
    out = draw(structure)
    if kind == "both":
        out = draw(mutate_text(out) if reader not in ("native_npz", "vp3d_npz") else mutate_bytes(out))
    return out


@st.composite
def mutated_folder(draw) -> dict[str, bytes]:
    """An OpenPose folder with one or two files mutated (or renamed, dropped, added)."""
    folder = dict(draw(st.sampled_from(seeds()["openpose"])))
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(folder)))
        op = draw(st.sampled_from(["bytes", "json", "json", "text", "rename", "drop", "add"]))
        if op == "bytes":
            folder[name] = draw(mutate_bytes(folder[name]))
        elif op == "json":
            folder[name] = draw(mutate_json(folder[name]))
        elif op == "text":
            folder[name] = draw(mutate_text(folder[name]))
        elif op == "rename":
            folder[draw(st.sampled_from(["noframe.json", "a_99999999999999999999999_keypoints.json",
                                         "x_-5_keypoints.json", "\u00e9_1.json"]))] = folder.pop(name)
        elif op == "drop" and len(folder) > 1:
            del folder[name]
        elif op == "add":
            folder["cam01_000000000009_keypoints.json"] = _json_bytes(draw(st.sampled_from(WEIRD_VALUES)))
    return folder


def inputs(reader: str) -> st.SearchStrategy:
    return mutated_folder() if reader == "openpose" else mutated_file(reader)


def write_input(reader: str, case: Any, directory: Path) -> Path:
    """Write one generated input under ``directory``; returns what the reader is given."""
    if reader == "openpose":
        folder = directory / "cam01_json"
        folder.mkdir()
        for name, data in case.items():
            (folder / name).write_bytes(data)
        return folder
    path = directory / f"input{SUFFIX[reader]}"
    path.write_bytes(case)
    return path


# ---------------------------------------------------------------------------------------------- the check

def _call(reader: str, path: Path) -> Any:
    from posecli.formats import read_poses

    if reader == "bvh":
        from posecli.mocap.bvh import read_bvh

        return read_bvh(path)
    if reader == "calibration":
        from posecli.synth.rig import read_calibration

        return read_calibration(path)
    if reader == "manifest":
        from posecli.synth.dataset import read_manifest

        return read_manifest(path, "make the dataset again with `posecli synth`")
    return read_poses(path)


def validate_result(reader: str, result: Any) -> None:
    """Raise AssertionError when a returned result is not a valid one of its kind."""
    if reader == "bvh":
        j, c = len(result.names), sum(len(ch) for ch in result.channels)
        assert result.motion.shape == (result.n_frames, c) and np.isfinite(result.motion).all(), "bad motion"
        assert np.isfinite(result.frame_time) and result.frame_time > 0, "bad frame time"
        assert result.offsets.shape == (j, 3) and np.isfinite(result.offsets).all(), "non-finite OFFSET"
        assert all(-1 <= p < k for k, p in enumerate(result.parents)), "bad parents"
    elif reader == "calibration":
        assert isinstance(result, list) and result, "no cameras"
        for cam in result:
            assert cam.K.shape == (3, 3) and np.isfinite(cam.K).all(), "bad K"
            assert cam.R.shape == (1, 3, 3) and np.isfinite(cam.R).all(), "bad R"
            assert cam.t.shape == (1, 3) and np.isfinite(cam.t).all(), "bad t"
            assert cam.width > 0 and cam.height > 0, "bad size"
    elif reader == "manifest":
        assert isinstance(result, dict) and result.get("schema") == "posecli.synth", "not a manifest"
        assert isinstance(result.get("options"), dict), "options not a dict"
        assert isinstance(result.get("clips"), list), "clips not a list"
        for c in result["clips"]:
            assert isinstance(c, dict) and isinstance(c.get("name"), str), "clip without a name"
            assert isinstance(c.get("views"), list), "clip without views"
            for v in c["views"]:
                assert isinstance(v, dict) and isinstance(v.get("video"), str) and isinstance(v.get("poses"), str)
    else:
        from posecli.poses import Poses

        assert isinstance(result, Poses), f"returned {type(result).__name__}"
        result.validate()


def _where(exc: BaseException) -> str:
    """' (at module.py:line)' of the innermost posecli frame of a traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/posecli/" in f.filename]
    return f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


class Hang(BaseException):
    """Raised by the alarm: the reader ran longer than HANG_SECONDS."""


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    kind: str  # "ok", "posecli_error", "uncaught", "invalid", "hang", "unpickled", "multiline"
    seconds: float
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.kind in ("ok", "posecli_error")


def run_reader(reader: str, path: Path, timeout: float = HANG_SECONDS) -> Outcome:
    """Run one reader on one input under the hang guard and classify what happened."""
    from posecli.errors import PoseCliError

    TRAP_MARKER.unlink(missing_ok=True)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        try:
            result = _call(reader, path)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = time.perf_counter() - t0
        try:
            validate_result(reader, result)
        except Exception as exc:
            outcome = Outcome("invalid", seconds, f"{type(exc).__name__}: {exc}")
        else:
            outcome = Outcome("ok", seconds)
    except Hang:
        outcome = Outcome("hang", time.perf_counter() - t0, f"no answer after {timeout} s")
    except PoseCliError as exc:
        seconds = time.perf_counter() - t0
        msg = str(exc)
        outcome = Outcome("multiline", seconds, msg) if "\n" in msg or "\r" in msg else \
            Outcome("posecli_error", seconds, msg)
    except (Exception, RecursionError, MemoryError) as exc:
        outcome = Outcome("uncaught", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:300] + _where(exc))
    finally:
        signal.signal(signal.SIGALRM, old)
    if TRAP_MARKER.exists():
        TRAP_MARKER.unlink()
        outcome = Outcome("unpickled", outcome.seconds, "an object array in the NPZ was unpickled")
    return outcome


def check(reader: str, path: Path) -> Outcome:
    """Pass if the reader returns a valid result or raises posecli's one-line error; AssertionError otherwise."""
    outcome = run_reader(reader, path)
    assert outcome.passed, f"{reader}: {outcome.kind} on {path}: {outcome.error}"
    return outcome


def run_case(reader: str, case: Any, check_fn: Callable[[str, Path], Any] = check) -> Any:
    """Write ``case`` into a fresh temporary folder and check the reader on it."""
    with tempfile.TemporaryDirectory() as tmp:
        return check_fn(reader, write_input(reader, case, Path(tmp)))
