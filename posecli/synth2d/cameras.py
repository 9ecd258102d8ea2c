"""Virtual pinhole cameras that film mocap poses: the camera model and a random-viewpoint sampler.

Conventions. World: metres, **Y up**, floor at y = 0 (``posecli.mocap``). Camera frame: x right, y down,
z forward (posecli's ``keypoints3d`` layer). Pixels: origin at the top-left corner of the image, which spans
[0, width] x [0, height] in continuous coordinates, so the principal point of a centred lens is (W/2, H/2).

The angles follow Pr-VIPE's camera augmentation (azimuth +-180 deg, elevation +-30 deg, roll +-30 deg), but on a
perspective camera at a real distance with a phone/laptop lens, because the user footage posecli reads is
perspective: the near/far size differences are part of what the 2D poses look like.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PoseCliError

FILM_WIDTH_MM = 36.0  # 35 mm-equivalent focal lengths refer to a 36 mm wide frame (its longer side)


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields with np.allclose, not ==
class Camera:
    """A pinhole camera; ``R`` maps world to camera (x_cam = R x_world + t).

    The arrays may carry leading batch dimensions B (``R`` (*B, 3, 3), ``t`` (*B, 3), ``K`` (*B, 3, 3),
    ``width``/``height`` (*B,)): then the points given to :meth:`project` start with the same dimensions
    B (or 1s) and camera b sees ``points[b]``. One camera per pose is how Pr-VIPE-style training projects
    a batch of poses, each from its own random view, without a Python loop.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int | np.ndarray
    height: int | np.ndarray

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.R)[:-2])

    @property
    def center(self) -> np.ndarray:
        """Camera position in world coordinates (*B, 3)."""
        return -np.einsum("...ji,...j->...i", self.R, self.t)

    def _expand(self, a: np.ndarray, points: np.ndarray, core: int) -> np.ndarray:
        # Insert singleton axes between the camera's batch axes and its own trailing axes so that the batch
        # lines up with the leading axes of ``points`` and the rest of ``points`` broadcasts.
        extra = points.ndim - 1 - len(self.batch_shape)
        if extra < 0:
            raise PoseCliError(f"points of shape {points.shape} have fewer leading axes than the camera batch "
                               f"{self.batch_shape}")
        a = np.asarray(a, dtype=np.float64)
        return a.reshape(a.shape[:a.ndim - core] + (1,) * extra + a.shape[a.ndim - core:])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera-frame points (..., 3), metres."""
        p = np.asarray(points, dtype=np.float64)
        R, t = self._expand(self.R, p, 2), self._expand(self.t, p, 1)
        return np.einsum("...ij,...j->...i", R, p) + t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> (uv (..., 2) pixels, depth (...) metres along the optical axis).

        A point at or behind the camera plane has no image: its uv is NaN (dividing by a negative depth
        would put it at a plausible-looking mirrored place), and its depth is returned as is.
        """
        pc = self.to_camera(points)
        depth = pc[..., 2]
        K = self._expand(self.K, np.asarray(points, dtype=np.float64), 2)
        img = np.einsum("...ij,...j->...i", K, pc)
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = img[..., :2] / depth[..., None]
        uv[depth <= 1e-9] = np.nan
        return uv, depth

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("a single camera has no len()")
        return self.batch_shape[0]

    def __getitem__(self, i) -> Camera:
        w, h = np.asarray(self.width)[i], np.asarray(self.height)[i]
        return Camera(self.K[i], self.R[i], self.t[i], int(w) if np.ndim(w) == 0 else w,
                      int(h) if np.ndim(h) == 0 else h)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def focal_px(focal_mm: np.ndarray | float, width: np.ndarray | int, height: np.ndarray | int) -> np.ndarray:
    """35 mm-equivalent focal length -> pixels: the 36 mm film width maps onto the image's longer side."""
    return np.asarray(focal_mm, dtype=np.float64) / FILM_WIDTH_MM * np.maximum(width, height)


def intrinsics(focal: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """(*B, 3, 3) K with square pixels and the principal point at the image centre."""
    focal, width, height = np.broadcast_arrays(np.asarray(focal, float), np.asarray(width, float),
                                               np.asarray(height, float))
    K = np.zeros(focal.shape + (3, 3))
    K[..., 0, 0] = K[..., 1, 1] = focal
    K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = width / 2, height / 2, 1.0
    return K


def look_at_rotation(forward: np.ndarray, roll: np.ndarray | float = 0.0) -> np.ndarray:
    """World->camera rotations (*B, 3, 3) for optical axes ``forward`` (*B, 3), image up = world up, then rolled.

    The camera's y axis (down in the image) is world -Y made orthogonal to the optical axis, so an upright
    person stands upright in the image before the roll. Positive ``roll`` (radians) turns the image content
    clockwise on screen (x_cam towards y_cam). Undefined when looking straight up or down.
    """
    z = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    down = np.broadcast_to(np.array([0.0, -1.0, 0.0]), z.shape)
    x = np.cross(down, z)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    if (norm < 1e-6).any():
        raise PoseCliError("a camera looks straight up or down: its image 'up' is undefined",
                           "keep the elevation range inside (-90, 90) degrees")
    x = x / norm
    y = np.cross(z, x)
    base = np.stack([x, y, z], axis=-2)
    c, s = np.cos(roll), np.sin(roll)
    Rz = np.zeros(np.shape(c) + (3, 3))
    Rz[..., 0, 0], Rz[..., 0, 1], Rz[..., 1, 0], Rz[..., 1, 1], Rz[..., 2, 2] = c, -s, s, c, 1.0
    return Rz @ base


def aim_rotation(away: np.ndarray, roll: np.ndarray, offset: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """World->camera rotations (C, 3, 3) of level, rolled cameras that see the target ``offset`` px off-centre.

    ``away`` (C, 3) unit vectors from the target to each camera; ``offset`` (C, 2) where the target should land
    relative to the principal point in the final (rolled) image; ``focal`` (C,) pixels. Like a tripod head,
    the aim is corrected by panning about world Y and tilting, never by rolling, so the horizon stays at
    ``roll`` and the roll read back from the camera is exactly the sampled one.
    """
    c, s = np.cos(roll), np.sin(roll)
    pre = np.stack([c * offset[:, 0] + s * offset[:, 1], -s * offset[:, 0] + c * offset[:, 1]], -1)  # unroll
    ray = np.concatenate([pre / focal[:, None], np.ones((len(pre), 1))], -1)
    a, b, cz = (ray / np.linalg.norm(ray, axis=-1, keepdims=True)).T  # target direction in camera axes
    w = -away  # the same direction in world axes
    # With x level: w_y = cz sin(pitch) - b cos(pitch), and w's heading = heading + atan2(a, forward part).
    pitch = np.arctan2(b, cz) + np.arcsin(np.clip(w[:, 1] / np.hypot(b, cz), -1, 1))
    heading = np.arctan2(w[:, 0], w[:, 2]) + np.arctan2(a, b * np.sin(pitch) + cz * np.cos(pitch))
    forward = np.stack([np.cos(pitch) * np.sin(heading), np.sin(pitch), np.cos(pitch) * np.cos(heading)], -1)
    return look_at_rotation(forward, roll)


def view_angles(camera: Camera, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(azimuth, elevation, roll) in degrees: the sampler's angles read back from a camera.

    Azimuth and elevation are those of the camera's position seen from ``target``; roll is the turn about
    the camera's own optical axis away from a level image.
    """
    v = camera.center - np.asarray(target, dtype=np.float64)
    az = np.degrees(np.arctan2(v[..., 0], v[..., 2]))
    el = np.degrees(np.arcsin(v[..., 1] / np.linalg.norm(v, axis=-1)))
    R = np.asarray(camera.R, dtype=np.float64)
    rz = R @ np.swapaxes(look_at_rotation(R[..., 2, :]), -1, -2)
    return az, el, np.degrees(np.arctan2(rz[..., 1, 0], rz[..., 0, 0]))


@dataclass(frozen=True)
class CameraSampler:
    """Random cameras around a person, as phones on a tripod or a laptop on a desk would film them.

    Angles are in degrees, uniform in their ranges. ``azimuth`` turns about world Y (0 = the camera on the +Z
    side of the person), ``elevation`` is the angle above the horizontal seen from the person (positive = the
    camera is higher and looks down), ``roll`` turns the camera about its optical axis. Elevation and roll
    default to Pr-VIPE's +-30 deg (in its ablation +-30 deg did best on 3DHP's unseen cameras; +-45 deg no
    better, +-15 deg better on chest-level views only).

    Lens: 35 mm-equivalent focal lengths of 22-35 mm cover phone main cameras (about 24-28 mm) and laptop
    webcams (65-78 deg diagonal field of view, about 27-34 mm). Images are (width, height) pixels: portrait and
    landscape phone video, 720p and VGA webcams. ``aim_jitter`` moves where the person's centre lands in the
    image, up to this fraction of the half-width/half-height, since nobody frames perfectly.

    ``fit_in_frame``: instead of a sampled ``distance``, place each camera so the person's tallest per-frame
    box spans a sampled ``fill`` fraction of the image height, then back off if needed so every joint of
    every frame stays at least ``margin`` (fraction of the shorter image side) inside the image.
    """

    azimuth: tuple[float, float] = (-180.0, 180.0)
    elevation: tuple[float, float] = (-30.0, 30.0)
    roll: tuple[float, float] = (-30.0, 30.0)
    distance: tuple[float, float] = (2.5, 6.0)
    focal_mm: tuple[float, float] = (22.0, 35.0)
    image_sizes: tuple[tuple[int, int], ...] = field(
        default=((1080, 1920), (1920, 1080), (1280, 720), (640, 480)))
    aim_jitter: float = 0.1
    fit_in_frame: bool = False
    fill: tuple[float, float] = (0.4, 0.9)
    margin: float = 0.02

    def __post_init__(self) -> None:
        if not (-90 < self.elevation[0] <= self.elevation[1] < 90):
            raise PoseCliError(f"elevation range {self.elevation} must lie inside (-90, 90) degrees")
        if not 0 <= self.aim_jitter < 1:
            raise PoseCliError(f"aim_jitter {self.aim_jitter} must be in [0, 1)")
        if self.fit_in_frame and not (0 < self.fill[0] <= self.fill[1] <= 1 - 2 * self.margin):
            raise PoseCliError(f"fill range {self.fill} must lie in (0, {1 - 2 * self.margin}]")
        if self.fit_in_frame and self.aim_jitter >= 1 - 2 * self.margin:
            raise PoseCliError(f"aim_jitter {self.aim_jitter} leaves no room to fit the person inside the margin")

    def sample(self, rng: np.random.Generator, target: np.ndarray, n_cameras: int = 1, *,
               points: np.ndarray | None = None) -> list[Camera]:
        """``n_cameras`` cameras filming the same person at once (multi-view), as a list."""
        return list(self.sample_batch(rng, target, n_cameras, points=points))

    def sample_batch(self, rng: np.random.Generator, target: np.ndarray, n_cameras: int = 1, *,
                     points: np.ndarray | None = None) -> Camera:
        """The same cameras as one batched :class:`Camera` of batch shape (n_cameras,).

        ``target`` is the person's centre (3,), e.g. the mean pelvis; a per-frame centre (N, 3) is averaged,
        because the camera is static: following the person is :mod:`videography`'s job, in the image.
        ``points`` (..., 3) are the joints to keep in frame; required with ``fit_in_frame``.
        """
        target = np.asarray(target, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        n = int(n_cameras)
        az = np.radians(rng.uniform(*self.azimuth, n))
        el = np.radians(rng.uniform(*self.elevation, n))
        roll = np.radians(rng.uniform(*self.roll, n))
        sizes = np.asarray(self.image_sizes, dtype=np.int64)[rng.integers(len(self.image_sizes), size=n)]
        width, height = sizes[:, 0], sizes[:, 1]
        K = intrinsics(focal_px(rng.uniform(*self.focal_mm, n), width, height), width, height)
        aim = rng.uniform(-1, 1, (n, 2)) * self.aim_jitter * sizes / 2  # pixels from the principal point
        fill = rng.uniform(*self.fill, n) if self.fit_in_frame else None
        distance = rng.uniform(*self.distance, n)

        away = np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], axis=-1)  # target->camera
        # The target's ray, not the optical axis, passes through the jittered pixel: it lands exactly there
        # whatever the distance, which lets fit_in_frame solve for the distance alone.
        R = aim_rotation(away, roll, aim, K[:, 0, 0])

        if self.fit_in_frame:
            if points is None:
                raise PoseCliError("fit_in_frame needs the person's joints (points=)")
            distance = self._fit_distance(R, K, width, height, away, target, np.asarray(points, float), fill)
        t = -np.einsum("bij,bj->bi", R, target + distance[:, None] * away)
        return Camera(K, R, t, width, height)

    def _fit_distance(self, R, K, width, height, away, target, points, fill) -> np.ndarray:
        """Distances (C,) at which the person fills ``fill`` of the image height and stays inside the image.

        With q the joints in camera axes relative to the target, a camera at distance d sees q + d * e,
        e = R (-away). Image extents shrink about as 1/d, so d <- d * (measured / wanted) converges in a few
        steps to the distance where the measured extent is the wanted one (exactly, once perspective's
        higher-order terms have settled); the larger of the "fill" and "inside" distances wins.
        """
        frames = points.reshape(-1, points.shape[-2], 3) if points.ndim >= 2 else points.reshape(1, 1, 3)
        frames = frames[np.isfinite(frames).all(-1).all(-1)]
        if not len(frames):
            raise PoseCliError("fit_in_frame got no frame with all joints finite")
        q = np.einsum("cij,nkj->cnki", R, frames - target)  # (C, N, J, 3)
        e = np.einsum("cij,cj->ci", R, -away)[:, None, None, :]
        f = K[:, 0, 0][:, None, None]
        pp = K[:, :2, 2][:, None, None, :]
        aim = pp + f[..., None] * e[..., :2] / e[..., 2:]  # where the target lands (independent of d)
        m = self.margin * np.minimum(width, height)[:, None, None, None]
        lo, hi = m - aim, np.stack([width, height], -1)[:, None, None, :] - m - aim  # room around the target
        # The nearest a camera may get: 0.3 m in front of every joint.
        d_min = np.maximum((0.3 - q[..., 2]) / e[..., 2], 0).reshape(len(q), -1).max(axis=1)
        d = np.full(len(q), 3.0)
        for _ in range(12):
            pc = q + d[:, None, None, None] * e
            uv = pp + f[..., None] * pc[..., :2] / pc[..., 2:]
            box_h = (uv[..., 1].max(-1) - uv[..., 1].min(-1)).max(-1)
            ratio_fill = box_h / (fill * height)
            rel = uv - aim
            ratio_in = np.maximum(rel / hi, rel / lo).reshape(len(q), -1).max(axis=1)  # both terms >= 0 sides
            d = np.maximum(d * np.maximum(ratio_fill, ratio_in), d_min)
        return d
