"""A room behind the people: the floor (y = 0) and one wall, textured, seen through each render camera.

Why: a background pasted flat behind the render keeps the straight lines of its picture parallel in every
view, whatever the camera's pitch and roll, while in a real video the vertical edges of a room converge on the
camera's vertical vanishing point and the floor recedes to a horizon. `estimate` reads the up direction from
those lines (``lifting.verticals``), so renders with a flat backdrop cannot test it; a room seen through the
camera can, and it also pans with a following camera as a real scene does.

Choices:
- One wall per view, facing that view's camera (its normal is the horizontal direction from the people's
  centre to the camera), standing 1-4 m behind the furthest the people go in that direction; it is infinite,
  and its picture is repeated mirrored beyond its edges. The picture (a procedural texture or a crop of a
  background plate, `scene.background`) stands on the floor and is 2.5-6 m tall.
- The floor is a second picture of the same kinds, 4-12 m across, repeated mirrored.
- The floor is opaque, so in a room the rig's cameras stand at least ``dataset.ROOM_CAMERA_HEIGHT`` above it
  (``rig.sample_rig``'s ``above``: Pr-VIPE's elevations down to -30 degrees would otherwise put some under it).
- A ray that meets neither (only possible above the horizon looking away from the wall) gets the wall
  picture's mean colour.
- Texture minification: each pixel samples the level of a Gaussian pyramid that matches how many texels it
  covers (a far floor would otherwise alias into moire, which is not a scene structure).
- The room is not lit: the pictures keep their own shading, as the flat backgrounds did.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LEVELS = 6


@dataclass
class Backdrop:
    """A wall (plane ``normal . p = offset``, ``normal`` horizontal and pointing at the camera) and the floor."""

    wall: list[np.ndarray]  # Gaussian pyramid of the wall picture, level 0 first
    floor: list[np.ndarray]
    normal: np.ndarray  # (3,) unit, horizontal
    offset: float
    origin: np.ndarray  # (3,) on the floor: the centre of the wall picture's bottom edge and of the floor picture
    wall_m: float  # metres per texel at level 0
    floor_m: float
    fill: np.ndarray  # (3,) uint8

    def image(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W, 3) uint8: the room seen by the camera x_cam = R x_world + t with intrinsics K."""
        w, h = size
        centre = (-R.T @ t).astype(np.float32)
        # float32 throughout: a 640x480 view is 0.3 M rays, redone every frame for a following camera
        u, v = np.meshgrid(np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5)
        rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T.astype(np.float32)
        rays = rays_cam @ R.astype(np.float32)  # world directions (R^T d for each row d), as long as rays_cam
        length = np.sqrt((rays_cam * rays_cam).sum(-1))
        focal = float(K[0, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            s_floor = np.where(rays[..., 1] < 0, -centre[1] / rays[..., 1], np.inf)
            towards = rays @ self.normal.astype(np.float32)
            s_wall = np.where(towards < 0, (self.offset - centre @ self.normal) / towards, np.inf)
        s_floor = np.where(s_floor > 0, s_floor, np.inf)
        s_wall = np.where(s_wall > 0, s_wall, np.inf)
        on_floor = s_floor < s_wall
        s = np.minimum(s_floor, s_wall)
        seen = np.isfinite(s)
        s = np.where(seen, s, 0.0)
        hit = centre + rays * s[..., None] - self.origin.astype(np.float32)
        # metres on the surface per image pixel, ignoring foreshortening's direction: distance / focal, divided
        # by the cosine between the ray and the surface's normal (a grazing view covers more of the surface)
        cos_floor = np.abs(rays[..., 1]) / length
        cos_wall = np.abs(towards) / length
        spread = s * length / focal / np.maximum(np.where(on_floor, cos_floor, cos_wall), 0.05)
        across = np.cross([0.0, 1.0, 0.0], self.normal).astype(np.float32)
        wall_xy = (hit @ across / self.wall_m + self.wall[0].shape[1] / 2,
                   self.wall[0].shape[0] - hit[..., 1] / self.wall_m)
        floor_xy = (hit[..., 0] / self.floor_m + self.floor[0].shape[1] / 2,
                    hit[..., 2] / self.floor_m + self.floor[0].shape[0] / 2)
        out = np.empty((h, w, 3), np.uint8)
        out[:] = self.fill
        for pyramid, xy, m, mask in ((self.wall, wall_xy, self.wall_m, seen & ~on_floor),
                                     (self.floor, floor_xy, self.floor_m, seen & on_floor)):
            level = np.clip(np.floor(np.log2(np.maximum(spread / m, 1.0))), 0, len(pyramid) - 1).astype(int)
            for lv, tex in enumerate(pyramid):
                sel = mask & (level == lv)
                if not sel.any():
                    continue
                out[sel] = _sample(tex, xy[0][sel] / 2 ** lv, xy[1][sel] / 2 ** lv)
        return out


def _sample(texture: np.ndarray, x: np.ndarray, y: np.ndarray, row: int = 4096) -> np.ndarray:
    """(N, 3) bilinear samples at texel coordinates (x, y), mirrored beyond the edges. remap takes a 2D map
    under 32,767 wide, so the points go in rows of ``row``; only the drawn pixels are sampled."""
    n = len(x)
    pad = (-n) % row
    mx = np.concatenate([x, np.zeros(pad)]).astype(np.float32).reshape(-1, row)
    my = np.concatenate([y, np.zeros(pad)]).astype(np.float32).reshape(-1, row)
    got = cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return got.reshape(-1, texture.shape[2])[:n]


def pyramid(image: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    out = [np.ascontiguousarray(image)]
    for _ in range(levels - 1):
        if min(out[-1].shape[:2]) < 4:
            break
        out.append(cv2.pyrDown(out[-1]))
    return out


def room_backdrop(rng: np.random.Generator, wall_picture: np.ndarray, floor_picture: np.ndarray,
                  points: np.ndarray, camera_centre: np.ndarray) -> Backdrop:
    """A wall behind ``points`` (any shape (..., 3), the people's world joints, Y up) as seen from
    ``camera_centre``, and the floor; the random sizes and distance come from ``rng``."""
    pts = points.reshape(-1, 3)
    centre = pts.mean(0)
    towards = np.asarray(camera_centre, np.float64) - centre
    towards[1] = 0.0
    norm = np.linalg.norm(towards)
    normal = towards / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])
    behind = float(((centre - pts) @ normal).max())  # how far behind the centre the people go
    offset = float(centre @ normal) - behind - rng.uniform(1.0, 4.0)
    origin = centre - normal * (float(centre @ normal) - offset)
    origin[1] = 0.0
    wall_m = rng.uniform(2.5, 6.0) / wall_picture.shape[0]
    floor_m = rng.uniform(4.0, 12.0) / floor_picture.shape[1]
    fill = wall_picture.reshape(-1, 3).mean(0).astype(np.uint8)
    return Backdrop(pyramid(wall_picture), pyramid(floor_picture), normal, offset, origin, wall_m, floor_m, fill)
