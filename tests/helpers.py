"""Small test inputs made on the fly (no ../shared needed)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scipy.spatial.transform import Rotation

from posecli import joints
from posecli.mocap.dataset import Sequence

W, H, FPS = 96, 64, 10
TOL = 6  # gray levels lost to YUV 4:2:0 and lossy coding


def level(i: int) -> int:
    """Frame i is a flat gray of this level, so decode order can be checked by value (unique for i < 18)."""
    return 20 + 12 * (i % 18)


def gray(i: int, width: int = W, height: int = H) -> np.ndarray:
    return np.full((height, width, 3), level(i), np.uint8)


def make_video(path: Path, n: int = 12, codec: str = "libx264", width: int = W, height: int = H,
               rotation: int | None = None, noise: bool = False, options: dict | None = None) -> Path:
    """Encode n frames; ``rotation`` is PyAV's counter-clockwise display rotation, ``noise`` makes big packets."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noise else gray(i, width, height)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


# ---- hand-made BVH figures (a CMU-style skeleton, centimetres, Y up) ----

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- a synthetic rig

# A mixamo-named figure 1.70 m tall in cm, zero pose = T-pose facing +z with its left on +x, toes at y = 0
# when the root is at y = 95. LeftShoulder is the clavicle and LeftArm the shoulder joint, as in mixamo.
def _leg(side: str, x: float) -> tuple:
    return (f"{side}UpLeg", (x, -5, 0), [(f"{side}Leg", (0, -42, 0), [(f"{side}Foot", (0, -42, 0), [
        (f"{side}ToeBase", (0, -6, 12), "end", (0, 0, 4))])])])


def _arm(side: str, s: int) -> tuple:
    return (f"{side}Shoulder", (3 * s, 18, 0), [(f"{side}Arm", (15 * s, 0, 0), [(f"{side}ForeArm", (28 * s, 0, 0), [
        (f"{side}Hand", (25 * s, 0, 0), "end", (8 * s, 0, 0))])])])


FIGURE = ("Hips", (0, 0, 0), [
    _leg("Left", 9), _leg("Right", -9),
    ("Spine", (0, 10, 0), [("Spine1", (0, 15, 0), [
        ("Neck", (0, 22, 0), [("Head", (0, 10, 0), "end", (0, 18, 0))]),
        _arm("Left", 1), _arm("Right", -1)])]),
])
ROT = ("Zrotation", "Xrotation", "Yrotation")


def figure_bvh(frames: list[dict[str, tuple]], frame_time: float = 1 / 60, tilt: bool = False) -> str:
    """BVH text of FIGURE; each frame maps joint -> channel values (root: 3 positions + Z X Y angles).
    ``tilt``: OFFSETs turned -90 degrees about X (zero pose lying on its back), the root turned +90 back."""
    order: list[str] = []
    lines = ["HIERARCHY"]

    def emit(node: tuple, depth: int) -> None:
        name, offset, children, *end = node
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        x, y, z = (offset[0], offset[2], -offset[1]) if tilt else offset
        lines.append(f"{pad}  OFFSET {x} {y} {z}")
        chans = ("Xposition", "Yposition", "Zposition", *ROT) if depth == 0 else ROT
        lines.append(f"{pad}  CHANNELS {len(chans)} {' '.join(chans)}")
        order.append(name)
        if children == "end":
            e = (end[0][0], end[0][2], -end[0][1]) if tilt else end[0]
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {e[0]} {e[1]} {e[2]}", f"{pad}  }}"])
        else:
            for child in children:
                emit(child, depth + 1)
        lines.append(f"{pad}}}")

    emit(FIGURE, 0)
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time:.6f}"]
    for f in frames:
        row = []
        for name in order:
            n = 6 if name == "Hips" else 3
            values = list(f.get(name, (0, 95, 0, 0, 0, 0) if name == "Hips" else (0, 0, 0)))[:n]
            if tilt and name == "Hips":
                values[4] += 90  # Xrotation
            row += values
        lines.append(" ".join(f"{v:g}" for v in row))
    return "\n".join(lines) + "\n"


ARMS_DOWN = {"LeftArm": (-90, 0, 0), "RightArm": (90, 0, 0)}  # Z X Y: Rz(-90) takes +x to -y


def walk(n: int, speed_cm: float = 1.0, start: int = 0) -> list[dict[str, tuple]]:
    return [{"Hips": (0, 95, (start + i) * speed_cm, 0, 0, 0), **ARMS_DOWN} for i in range(n)]


H36M_REST = np.array([  # metres, Y up, facing +z
    (0, 1.0, 0), (-0.1, 1.0, 0), (-0.1, 0.55, 0), (-0.1, 0.1, 0), (0.1, 1.0, 0), (0.1, 0.55, 0), (0.1, 0.1, 0),
    (0, 1.25, 0), (0, 1.5, 0), (0, 1.6, 0.08), (0, 1.72, 0), (0.18, 1.48, 0), (0.2, 1.2, 0), (0.22, 0.95, 0),
    (-0.18, 1.48, 0), (-0.2, 1.2, 0), (-0.22, 0.95, 0)], dtype=np.float64)
LIMBS = [2, 3, 5, 6, 12, 13, 15, 16]  # knees, ankles, elbows, wrists move


def synthetic_sequence(rng: np.random.Generator, subject: str, name: str, n: int = 40) -> Sequence:
    """Limbs swinging with random amplitudes/phases, the body turned and placed at random."""
    t = np.arange(n)[:, None, None] / 30.0
    amp, freq, phase = rng.uniform(0.1, 0.45, (3, 1, 8, 3)) * np.array([1, 6, 20])[:, None, None, None]
    h36m = np.repeat(H36M_REST[None], n, 0)
    h36m[:, LIMBS] += amp * np.sin(freq * t + phase)
    yaw = Rotation.from_euler("y", rng.uniform(0, 360), degrees=True).as_matrix()
    h36m = h36m @ yaw.T + np.array([rng.uniform(-1, 1), 0, rng.uniform(-1, 1)])
    coco, _ = joints.convert(h36m, np.ones(h36m.shape[:2]), "h36m17", "coco17")  # eyes/ears: NaN
    return Sequence(subject, name, 30.0, {"h36m17": h36m.astype(np.float32), "coco17": coco})


def posed_motion(n: int = 60) -> np.ndarray:
    """COCO-17 world motion (Y up, metres) in which every frame is a different pose and bone lengths stay fixed:
    left arm rising sideways with the elbow bending, right arm rising forward, a squat down and up, the trunk
    leaning and the body turning 60 degrees. Eyes/ears are put beside the nose (the skeleton has none)."""
    h = joints.H36M17
    J = {name: i for i, name in enumerate(h.joints)}
    t = np.linspace(0, 1, n)
    out = np.repeat(H36M_REST[None], n, 0).copy()
    def rot(axis, deg):
        return Rotation.from_euler(axis, deg, degrees=True).as_matrix()
    for k, tk in enumerate(t):
        p = out[k]
        def limb(a, b, c, r1, r2):
            p[b] = p[a] + r1 @ (H36M_REST[b] - H36M_REST[a])
            p[c] = p[b] + r1 @ r2 @ (H36M_REST[c] - H36M_REST[b])
        limb(J["left_shoulder"], J["left_elbow"], J["left_wrist"], rot("z", 150 * tk), rot("x", -90 * tk))
        limb(J["right_shoulder"], J["right_elbow"], J["right_wrist"], rot("x", -110 * tk ** 2), rot("x", -20))
        knee = 70 * np.sin(np.pi * tk)
        for s in ("left", "right"):
            limb(J[f"{s}_hip"], J[f"{s}_knee"], J[f"{s}_ankle"], rot("x", -knee / 2 - (25 * tk if s == "left" else 0)), rot("x", knee))
        # lean the upper body forward about the pelvis
        upper = [J[x] for x in ("spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                                "right_shoulder", "right_elbow", "right_wrist")]
        p[upper] = (p[upper] - p[0]) @ rot("x", 25 * tk).T + p[0]
        p[:] = (p - p[0]) @ rot("y", 60 * tk).T + p[0]  # and turn
    coco, _ = joints.convert(out, np.ones(out.shape[:2]), "h36m17", "coco17")
    for j in range(1, 5):
        coco[:, j] = coco[:, 0] + np.array([0.03 * (1 if j % 2 else -1), 0.03, 0.02])
    return coco
