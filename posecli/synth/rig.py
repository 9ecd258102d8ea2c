"""A rig of calibrated cameras around the people, and its Pose2Sim calibration file.

Sampling reuses :class:`posecli.synth2d.CameraSampler` (Pr-VIPE's angle ranges: azimuth +-180, elevation and
roll +-30 degrees; 22-35 mm lenses; ``fit_in_frame`` so every joint of every frame stays inside the image).
Choices the spec leaves open:
- One image size for the whole rig (``--size``); each camera draws its own angles, lens and aim jitter.
- Truncating framings: a camera chosen for it (probability ``truncate``) moves towards the people to 45-75 %
  of its fitted distance, so limbs or the head leave the image at some frames.
- Wide framings: a camera chosen for it (probability ``wide``, among the others) moves away from the people to
  ``FARTHER`` times its fitted distance, so they are small in the image (tracking benchmarks: in
  ``bench/track_mot.py --small`` people fill 5-30 % of the frame's height).
- Following cameras stay where they stand and pan/tilt every frame (never roll) so that the people's
  centre, smoothed over 0.5 s, stays where it landed in the first frame. The calibration file then holds
  the first frame's extrinsics; every frame's R, t are in the pose files.

Pose2Sim's calibration TOML (``[cam_01]`` ... with ``size = [W, H]``, ``matrix`` K, ``distortions`` k1 k2 p1
p2, ``rotation`` a Rodrigues vector and ``translation``, world -> camera, metres, plus ``[metadata]``) lives in
a **Z-up** world (Pose2Sim turns its results Y-up only when writing .trc files), while posecli's world is Y-up:
the file's world is posecli's turned by ``YUP_TO_ZUP`` (x, y, z) -> (x, -z, y), and reading turns it back.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..atomic import atomic_path
from ..errors import InputError, SchemaError
from ..synth2d.cameras import Camera, CameraSampler, aim_rotation, view_angles

FARTHER = (1.5, 3.0)  # wide framings: the fitted distance times this
YUP_TO_ZUP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


@dataclass
class RigCamera:
    """One camera of the rig: intrinsics, and world -> camera extrinsics per frame (T, 3, 3), (T, 3)."""

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    truncating: bool = False
    wide: bool = False

    def at(self, frame: int) -> Camera:
        return Camera(self.K, self.R[frame], self.t[frame], self.width, self.height)

    @property
    def following(self) -> bool:
        return not np.allclose(self.R, self.R[:1])


def sample_rig(rng: np.random.Generator, n_views: int, size: tuple[int, int], points: np.ndarray, *,
               follow: bool = False, truncate: float = 0.0, wide: float = 0.0, fps: float = 30.0,
               above: tuple[float, np.random.Generator] | None = None) -> list[RigCamera]:
    """``n_views`` cameras filming ``points`` (T, J, 3) (all people's world joints, Y up). ``above`` = (height,
    generator): a camera whose centre ends below that height (Pr-VIPE's elevations reach -30 degrees, which puts
    some cameras under the floor) is drawn again from the generator, so the others stay as drawn."""
    sampler = CameraSampler(image_sizes=(tuple(size),), fit_in_frame=True, fill=(0.45, 0.85), margin=0.03)
    centre = points.reshape(-1, 3).mean(0)
    cams = sampler.sample_batch(rng, centre, n_views, points=points)
    truncating = rng.random(n_views) < truncate
    closer = rng.uniform(0.45, 0.75, n_views)
    # Drawn only when asked for, so that datasets made before wide framings existed come out the same.
    widening = (rng.random(n_views) < wide) & ~truncating if wide > 0 else np.zeros(n_views, bool)
    farther = rng.uniform(*FARTHER, n_views) if wide > 0 else np.ones(n_views)
    n = len(points)
    track = gaussian_filter1d(points.mean(1), sigma=0.5 * fps, axis=0, mode="nearest") if follow else None

    def place(cam, i):
        scale = closer[i] if truncating[i] else farther[i] if widening[i] else None
        return cam.center if scale is None else centre + (cam.center - centre) * scale

    out = []
    for i, cam in enumerate(cams):
        position = place(cam, i)
        for _ in range(100 if above else 0):
            if position[1] >= above[0]:
                break
            cam = sampler.sample_batch(above[1], centre, 1, points=points)[0]
            position = place(cam, i)
        if follow:
            # Where the centre landed in the first frame is where every later frame keeps it.
            uv, _ = cam.project(track[0])
            offset = np.repeat((uv - cam.K[:2, 2])[None], n, 0)
            away = position - track
            away /= np.linalg.norm(away, axis=-1, keepdims=True)
            roll = np.full(n, np.radians(view_angles(cam, centre)[2]))
            R = aim_rotation(away, roll, offset, np.full(n, cam.K[0, 0]))
        else:
            R = np.repeat(cam.R[None], n, 0)
        t = -np.einsum("tij,j->ti", R, position)
        out.append(RigCamera(f"cam_{i + 1:02d}", np.asarray(cam.K), R, t, int(size[0]), int(size[1]),
                             bool(truncating[i]), bool(widening[i])))
    return out


# ---- Pose2Sim calibration TOML ----

def _fmt(values) -> str:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        return "[ " + ", ".join(repr(float(x)) for x in a) + "]"
    return "[ " + ", ".join(_fmt(row) for row in a) + "]"


def calibration_toml(cameras: list[RigCamera], frame: int = 0) -> str:
    """Pose2Sim's calibration layout for the cameras' extrinsics at ``frame`` (Z-up world, see above)."""
    parts = []
    for cam in cameras:
        R = cam.R[frame] @ YUP_TO_ZUP.T  # x_cam = R_y x_y + t = (R_y A^T) (A x_y) + t
        rvec = cv2.Rodrigues(R)[0].ravel()
        parts.append(f'[{cam.name}]\nname = "{cam.name}"\nsize = {_fmt([cam.width, cam.height])}\n'
                     f"matrix = {_fmt(cam.K)}\ndistortions = {_fmt(np.zeros(4))}\nrotation = {_fmt(rvec)}\n"
                     f"translation = {_fmt(cam.t[frame])}\nfisheye = false\n")
    parts.append("[metadata]\nadjusted = false\nerror = 0.0\n")
    return "\n".join(parts)


def write_calibration(path: str | Path, cameras: list[RigCamera], frame: int = 0) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(calibration_toml(cameras, frame))


def _calibration_array(sec: dict, name: str, shape: tuple[int, ...], key: str, path: Path) -> np.ndarray:
    """One entry of a camera section as finite float64 numbers of ``shape``; one clear error otherwise."""
    value = sec.get(name)
    try:
        a = np.asarray(value, dtype=np.float64)
        if a.size != int(np.prod(shape)):
            raise ValueError
    except (ValueError, TypeError, OverflowError):
        raise SchemaError(f"camera [{key}] lacks a valid {name!r} entry ({int(np.prod(shape))} numbers)",
                          "Pose2Sim layout: size, matrix, distortions, rotation, translation", path) from None
    if not np.isfinite(a).all():
        raise SchemaError(f"camera [{key}] {name!r} holds NaN or infinite values", "calibrate the camera again", path)
    return a.reshape(shape)


def read_calibration(path: str | Path) -> list[RigCamera]:
    """Cameras of a Pose2Sim calibration file, in posecli's Y-up world (one frame: R (1, 3, 3), t (1, 3)).
    Distortions are not modelled by posecli's pinhole camera: they are checked to be read, then ignored."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError, huge ints
        raise InputError(f"not a readable TOML file ({type(exc).__name__}: {str(exc)[:100]})",
                         "give a Pose2Sim calibration .toml (UTF-8)", path) from None
    cams = []
    for key, sec in data.items():
        if key == "metadata" or not isinstance(sec, dict):
            continue
        K = _calibration_array(sec, "matrix", (3, 3), key, path)
        rvec = _calibration_array(sec, "rotation", (3, 1), key, path)
        if np.abs(rvec).max() > 1e6:  # a Rodrigues vector's length is an angle in radians
            raise SchemaError(f"camera [{key}] rotation {rvec.ravel().tolist()} is not a rotation vector",
                              "rotation = [rx, ry, rz], Rodrigues, radians", path)
        R = cv2.Rodrigues(rvec)[0] @ YUP_TO_ZUP
        t = _calibration_array(sec, "translation", (3,), key, path)
        size = _calibration_array(sec, "size", (2,), key, path)
        if not ((size >= 1) & (size <= 1e6)).all():
            raise SchemaError(f"camera [{key}] has image size {size.tolist()}",
                              "size = [width, height] in pixels", path)
        w, h = (int(round(float(x))) for x in size)
        cams.append(RigCamera(str(sec.get("name", key)), K, R[None], t[None], w, h))
    if not cams:
        raise SchemaError("no camera sections", "expected [cam_01] ... in Pose2Sim's layout", path)
    return cams
