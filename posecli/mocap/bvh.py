"""BVH reading and forward kinematics, vectorised over frames with numpy.

Own code rather than a library (checked 2026): ``bvhio`` 1.5.4 evaluates FK one frame at a time through PyGLM
objects (~1 s just to load a 200-frame, 99-joint file; minutes for the 26k-frame CMU set), and ``pybvh`` 0.9.0,
though vectorised and fast, drops the root OFFSET whenever the root has position channels (the iClone CMU
exports keep the hip height there, so bodies land ~1 m low) and does not hand out world rotation matrices,
which the virtual face points need. Parsing plus FK here is ~200 lines with no dependency beyond numpy.

Conventions (the BVH "standard" as written by Biovision, MotionBuilder, Blender and CMU):

* Channels are listed per joint in file order; rotations are Euler angles in degrees, applied in the listed
  order as *intrinsic* rotations: ``Zrotation Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry`` and a child's
  offset ``o`` lands at ``parent_pos + R_parent_world @ ... @ R_local @ o``.
* The root's local translation is ``OFFSET + (Xposition, Yposition, Zposition)`` (some readers drop the root
  OFFSET; that is wrong for files whose OFFSET holds the rest height, as iClone's CMU exports do).
* Position channels on the other joints come in two conventions, told apart per file
  (``Bvh.position_convention``): ``"offset + channels"`` (the channels are a displacement added to the
  OFFSET, as for the root) and ``"channels"`` (the channels are the joint's whole local translation and
  repeat the OFFSET; several exporters write every joint with 6 channels this way, and adding the OFFSET
  again makes every bone twice its length). The file uses the second when the channels' median lies
  nearer the OFFSETs than zero, summed over those joints. ``"root only"``: no other joint has them.
* ``End Site`` blocks become extra channel-less joints named ``<parent>_End`` so that head tops and finger
  tips are available as positions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

_AXES = {"X": 0, "Y": 1, "Z": 2}
_CHANNEL = re.compile(r"^([XYZ])(position|rotation)$", re.IGNORECASE)


@dataclass
class Bvh:
    """One BVH file: the skeleton (parents before children) and its motion table, in the file's units."""

    path: Path
    names: list[str]                 # joints in file order; End Sites are "<parent>_End"
    parents: np.ndarray              # (J,) int, -1 for the root(s)
    offsets: np.ndarray              # (J, 3) rest offsets from the parent
    channels: list[tuple[str, ...]]  # per joint, e.g. ("Xposition", ..., "Zrotation"); () for End Sites
    frame_time: float                # seconds
    motion: np.ndarray               # (F, C) float64, columns in channel order
    position_convention: str = "root only"  # or "offset + channels" / "channels" (module docstring)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"no joint named {name!r}", f"joints: {', '.join(self.names[:8])}, ...",
                             self.path) from None

    def columns(self, joint: int) -> slice:
        """The motion columns of one joint."""
        start = sum(len(c) for c in self.channels[:joint])
        return slice(start, start + len(self.channels[joint]))

    def fk(self, frames: np.ndarray | slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World positions (N, J, 3) and world rotation matrices (N, J, 3, 3) of every joint.

        The rotation of joint j maps its local axes to world axes (for an End Site: its parent's rotation).
        """
        motion = self.motion if frames is None else self.motion[frames]
        local_rot, local_pos = self._local(motion)
        n, j = motion.shape[0], len(self.names)
        pos = np.empty((n, j, 3))
        rot = np.empty((n, j, 3, 3))
        # Parents precede children in file order, so one pass in order is a valid traversal; the work per
        # joint is one batched (N, 3, 3) product, so the Python loop runs J times, never N times.
        for k, p in enumerate(self.parents):
            if p < 0:
                pos[:, k] = local_pos[:, k]
                rot[:, k] = local_rot[:, k]
            else:
                pos[:, k] = pos[:, p] + np.einsum("nij,nj->ni", rot[:, p], local_pos[:, k])
                rot[:, k] = rot[:, p] @ local_rot[:, k]
        return pos, rot

    def positions(self, frames: np.ndarray | slice | None = None) -> np.ndarray:
        """World positions (N, J, 3) in the file's units."""
        return self.fk(frames)[0]

    def rest_positions(self) -> np.ndarray:
        """(J, 3) positions with every channel at zero: the pose the OFFSETs draw, all rotations identity."""
        pos = np.zeros((len(self.names), 3))
        for k, p in enumerate(self.parents):
            pos[k] = self.offsets[k] + (pos[p] if p >= 0 else 0.0)
        return pos

    def _local(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, j = motion.shape[0], len(self.names)
        pos = np.broadcast_to(self.offsets, (n, j, 3)).copy()
        # Rotation channels padded to three slots per joint (angle 0 about X for missing slots), so that the
        # whole skeleton is built with three batched axis-angle evaluations whatever each joint's order is.
        angles = np.zeros((n, j, 3))
        axes = np.zeros((j, 3), dtype=int)
        col = 0
        replace = self.position_convention == "channels"
        for k, chans in enumerate(self.channels):
            slot = 0
            for name in chans:
                axis, kind = _CHANNEL.match(name).groups()
                if kind.lower() == "position":
                    if replace and self.parents[k] >= 0:
                        pos[:, k, _AXES[axis.upper()]] = motion[:, col]
                    else:
                        pos[:, k, _AXES[axis.upper()]] += motion[:, col]
                else:
                    angles[:, k, slot] = motion[:, col]
                    axes[k, slot] = _AXES[axis.upper()]
                    slot += 1
                col += 1
        rot = np.broadcast_to(np.eye(3), (n, j, 3, 3))
        for slot in range(3):
            rot = rot @ _axis_rotation(axes[:, slot], np.radians(angles[:, :, slot]))
        return rot, pos


def _axis_rotation(axis: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(N, J, 3, 3) rotations by ``theta`` (N, J) radians about the coordinate axis ``axis`` (J,) in 0..2."""
    c, s = np.cos(theta), np.sin(theta)
    out = np.zeros(theta.shape + (3, 3))
    i = axis  # rotation about axis i leaves i fixed and turns the plane of (i+1, i+2) cyclically
    a, b = (i + 1) % 3, (i + 2) % 3
    cols = np.arange(len(axis))
    out[:, cols, i, i] = 1.0
    out[:, cols, a, a] = c
    out[:, cols, a, b] = -s
    out[:, cols, b, a] = s
    out[:, cols, b, b] = c
    return out


def read_bvh(path: str | Path) -> Bvh:
    """Parse a BVH file; any structural problem raises ``InputError`` naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read BVH file ({exc.strerror or exc})", "check the path", path) from None
    parts = re.split(r"^[ \t]*MOTION[ \t]*\r?$", text, maxsplit=1, flags=re.MULTILINE)
    if len(parts) != 2:
        raise InputError("not a BVH file (no MOTION section)", "export the file again as BVH", path)
    head, tail = parts
    names, parents, offsets, channels = _parse_hierarchy(head, path)
    frame_time, motion = _parse_motion(tail, sum(len(c) for c in channels), head.count("\n") + 1, path)
    parents_arr = np.asarray(parents, dtype=int)
    offsets_arr = np.asarray(offsets, dtype=float).reshape(-1, 3)
    convention = position_convention(parents_arr, offsets_arr, channels, motion)
    return Bvh(path, names, parents_arr, offsets_arr, channels, frame_time, motion, convention)


def position_convention(parents: np.ndarray, offsets: np.ndarray, channels: list[tuple[str, ...]],
                        motion: np.ndarray) -> str:
    """How the file's non-root position channels combine with the OFFSETs (module docstring)."""
    to_zero = to_offset = 0.0
    found = False
    col = 0
    for k, chans in enumerate(channels):
        for name in chans:
            axis, kind = _CHANNEL.match(name).groups()
            if kind.lower() == "position" and parents[k] >= 0 and len(motion):
                found = True
                median = float(np.median(motion[:, col]))
                to_zero += abs(median)
                to_offset += abs(median - offsets[k, _AXES[axis.upper()]])
            col += 1
    if not found:
        return "root only"
    return "channels" if to_offset < to_zero else "offset + channels"


def _parse_hierarchy(text: str, path: Path) -> tuple[list[str], list[int], list[list[float]], list[tuple]]:
    tokens = text.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise InputError("not a BVH file (does not start with HIERARCHY)", "export the file again as BVH", path)
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple] = []
    stack: list[int] = []  # open blocks: joint index
    pending: int | None = None  # joint declared, its "{" not yet seen
    i = 1

    def fail(problem: str) -> InputError:
        return InputError(f"bad BVH hierarchy: {problem}", "the file is damaged or not BVH; export it again", path)

    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT") or tok == "End":
            if tok == "End":  # "End Site"
                if not stack:
                    raise fail("End Site outside any joint")
                name, i = f"{names[stack[-1]]}_End", i + 2
            else:
                if i + 1 >= len(tokens):
                    raise fail(f"{tok} without a name")
                name, i = tokens[i + 1], i + 2
            if (tok == "ROOT") != (not stack):
                raise fail(f"{tok} {name} at the wrong nesting level")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending = len(names) - 1
        elif tok == "{":
            if pending is None:
                raise fail("'{' without a joint")
            stack.append(pending)
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                raise fail("unbalanced '}'")
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            try:
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
            except (ValueError, IndexError):
                raise fail(f"OFFSET of {names[stack[-1]] if stack else '?'} is not three numbers") from None
            if len(offsets[stack[-1]]) != 3 or not np.isfinite(offsets[stack[-1]]).all():
                raise fail(f"OFFSET of {names[stack[-1]]} is not three finite numbers")
            i += 4
        elif tok == "CHANNELS":
            if not stack:
                raise fail("CHANNELS outside any joint")
            try:
                count = int(tokens[i + 1])
            except (ValueError, IndexError):
                raise fail(f"CHANNELS of {names[stack[-1]]} has no count") from None
            if not 0 <= count <= 6:  # 3 positions + 3 rotations at most
                raise fail(f"CHANNELS of {names[stack[-1]]} declares {tokens[i + 1][:20]} channels (0 to 6 exist)")
            chans = tuple(tokens[i + 2:i + 2 + count])
            bad = [c for c in chans if not _CHANNEL.match(c)]
            if len(chans) != count or bad:
                raise fail(f"CHANNELS of {names[stack[-1]]}: expected {count} of X/Y/Z position/rotation, "
                           f"got {' '.join(c[:20] for c in chans)}")
            if sum(1 for c in chans if c.lower().endswith("rotation")) > 3:
                raise fail(f"{names[stack[-1]]} has more than three rotation channels")
            channels[stack[-1]] = chans
            i += 2 + count
        else:
            raise fail(f"unexpected word {tok!r}")
    if stack or pending is not None:
        raise fail("unclosed joint block (file cut short?)")
    if not names:
        raise fail("no joints")
    return names, parents, offsets, channels


def _parse_motion(text: str, n_channels: int, first_line: int, path: Path) -> tuple[float, np.ndarray]:
    lines = text.split("\n")
    header: dict[str, str] = {}
    body_start = None
    for k, line in enumerate(lines[:8]):
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() in ("frames", "frame time"):
            header[key.strip().lower()] = value.strip()
            if len(header) == 2:
                body_start = k + 1
                break
    if body_start is None:
        raise InputError("MOTION section lacks 'Frames:' or 'Frame Time:'", "the file is damaged", path)
    try:
        n_frames, frame_time = int(header["frames"]), float(header["frame time"])
    except ValueError:
        raise InputError("'Frames:'/'Frame Time:' are not numbers", "the file is damaged", path) from None
    if not np.isfinite(frame_time) or frame_time <= 0 or n_frames <= 0:
        raise InputError(f"{n_frames} frames of {frame_time} s", "the file holds no usable motion", path)
    rows = [line.split() for line in lines[body_start:]]
    rows = [r for r in rows if r]
    for k, row in enumerate(rows[:n_frames]):
        if len(row) != n_channels:
            line_no = first_line + body_start + k
            raise InputError(f"frame {k} (line {line_no}) has {len(row)} values, the hierarchy declares "
                             f"{n_channels} channels", "the file is damaged or its header edited", path)
    if len(rows) < n_frames:
        raise InputError(f"header says {n_frames} frames, file holds {len(rows)} (truncated?)",
                         "copy the file again or fix 'Frames:'", path)
    if len(rows) > n_frames:
        raise InputError(f"header says {n_frames} frames, file holds {len(rows)}",
                         "fix 'Frames:' or remove the extra lines", path)
    try:
        motion = np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"motion data has a non-number ({exc})", "the file is damaged", path) from None
    if not np.isfinite(motion).all():
        raise InputError("motion data has NaN or infinite values", "the file is damaged", path)
    return frame_time, motion
