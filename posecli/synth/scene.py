"""Scene dressing: backgrounds, lighting and occluders. Every random choice comes from the caller's generator.

Choices the spec leaves open:
- Background pictures: procedural textures (value noise in 2-3 colours, tiles, stripes, a gradient with
  noise), or a random crop of a *background plate* made from a shared video: the per-pixel median of 15 frames
  spread over the clip, which removes the people who move through it, and crops only where BlazePose's person
  detector found nobody in the plate or those frames (real people in a background would be people the ground
  truth knows nothing about). Each view gets its own picture; ``synth.backdrop`` puts it on a wall behind the
  people, seen through the camera (the default), or it is pasted flat behind the render (``--backdrop flat``).
- Lighting: one directional light per clip (random direction in the upper hemisphere, random warm/cool tint)
  plus ambient, applied to the vertex colours (Lambert on world normals); the renderer's own headlight
  shading then darkens silhouettes, which keeps limbs readable.
- Occluders: 0..N upright boxes (0.3-0.8 m wide, 0.6-1.4 m tall) standing on the floor 0.7-1.6 m from the
  people's centre, in random flat colours; they are part of the world, so every view sees them.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
PLATE_FRAMES = 15


def _value_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    w, h = size
    low = rng.random((max(2, cells * h // w), cells)).astype(np.float32)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)


def procedural_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8: one of a few procedural textures in random colours."""
    w, h = size
    palette = rng.uniform(0, 255, (3, 3)).astype(np.float32)
    kind = rng.choice(["noise", "tiles", "stripes", "gradient"])
    if kind == "noise":
        n = 0.6 * _value_noise(rng, size, int(rng.integers(3, 8))) + 0.4 * _value_noise(rng, size, 40)
        a = np.clip(n, 0, 1)[..., None]
        img = palette[0] * (1 - a) + palette[1] * a
    elif kind == "tiles":
        s = int(rng.integers(16, 80))
        yy, xx = np.mgrid[0:h, 0:w]
        a = ((xx // s + yy // s) % 2).astype(np.float32)[..., None]
        img = palette[0] * (1 - a) + palette[1] * a
        img *= (0.85 + 0.3 * _value_noise(rng, size, 6))[..., None]
    elif kind == "stripes":
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(4, 30)) > 0).astype(np.float32)
        img = palette[0] * (1 - a[..., None]) + palette[2] * a[..., None]
    else:
        g = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = palette[0] * (1 - g) + palette[1] * g + 40 * (_value_noise(rng, size, 20)[..., None] - 0.5)
        img = np.broadcast_to(img, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def find_videos(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise InputError("does not exist", "give a folder of videos for --backgrounds", folder)
    found = sorted(p for p in ([folder] if folder.is_file() else folder.rglob("*"))
                   if p.suffix.lower() in VIDEO_SUFFIXES)
    if not found:
        raise InputError("holds no videos", f"give a folder with {', '.join(VIDEO_SUFFIXES)} files", folder)
    return found


@functools.cache
def background_plate(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(plate, people mask): the per-pixel median of ``PLATE_FRAMES`` frames spread over the video (the scene
    without movers), and where BlazePose's person detector found someone in the plate or in any of those
    frames (a person who stands still survives the median; a mover can leave a ghost)."""
    from ..detect.detector import PersonDetector
    from ..video import probe, read_frames

    info = probe(path)
    every = max(1, info.frames // PLATE_FRAMES)
    frames = [f.image for f in read_frames(path, every=every)][:PLATE_FRAMES]
    plate = np.median(np.stack(frames), axis=0).astype(np.uint8)
    detector = PersonDetector()
    mask = np.zeros(plate.shape[:2], bool)
    h, w = mask.shape
    for image in [plate, *frames]:
        for det in detector.detect(image, tiled=True):
            x0, y0, x1, y1 = det.body_box
            pad = 0.15 * (x1 - x0)
            mask[max(0, int(y0 - pad)):max(0, int(y1 + pad)), max(0, int(x0 - pad)):max(0, int(x1 + pad))] = True
    return plate, mask


def video_background(rng: np.random.Generator, size: tuple[int, int], videos: list[Path]) -> np.ndarray | None:
    """A random crop (the output's aspect, 25-100 % of the plate's size) of a plate that holds nobody,
    resized; None if 30 tries found no crop clear of people."""
    plate, people = background_plate(str(videos[int(rng.integers(len(videos)))]))
    w, h = size
    ph, pw = plate.shape[:2]
    for _ in range(30):
        scale = rng.uniform(0.25, 1.0) * min(pw / w, ph / h)
        cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
        x0, y0 = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
        if not people[y0:y0 + ch, x0:x0 + cw].any():
            break
    else:
        return None
    crop = plate[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    img = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(img.astype(np.float32) * rng.uniform(0.7, 1.2), 0, 255).astype(np.uint8)


def background(rng: np.random.Generator, size: tuple[int, int], videos: list[Path] | None) -> np.ndarray:
    if videos and rng.random() < 0.5:
        image = video_background(rng, size, videos)
        if image is not None:
            return image
    return procedural_background(rng, size)


# ---- lighting ----

def random_light(rng: np.random.Generator) -> dict:
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(20), np.radians(80))
    direction = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])  # towards the light
    tint = np.clip(1 + rng.normal(0, 0.07, 3), 0.8, 1.2)
    return {"direction": direction.tolist(), "ambient": float(rng.uniform(0.45, 0.7)),
            "intensity": float(rng.uniform(0.3, 0.6)), "tint": tint.tolist()}


def light(colours: np.ndarray, vertices: np.ndarray, faces: np.ndarray, lighting: dict,
          normals: np.ndarray | None = None) -> np.ndarray:
    """(V, 3) lit colours 0-255 of a mesh in world coordinates (two-sided Lambert + ambient, tinted);
    ``normals``: its unit vertex normals when already computed."""
    from ..render.mesh import vertex_normals

    normals = vertex_normals(vertices, faces) if normals is None else normals
    lam = np.abs(normals @ np.asarray(lighting["direction"]))
    gain = lighting["ambient"] + lighting["intensity"] * lam
    return np.clip(colours * gain[:, None] * np.asarray(lighting["tint"]), 0, 255).astype(np.float32)


# ---- occluders ----

def box_mesh(centre: np.ndarray, size: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """A box subdivided into 8x8 quads per side (so the per-vertex headlight shades its sides smoothly)."""
    import trimesh

    box = trimesh.creation.box(extents=size)
    for _ in range(3):
        box = box.subdivide()
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.asarray(box.vertices) @ rot.T + centre, np.asarray(box.faces)


def random_occluders(rng: np.random.Generator, count: int, centre: np.ndarray) -> list[dict]:
    out = []
    for _ in range(count):
        size = np.array([rng.uniform(0.3, 0.8), rng.uniform(0.6, 1.4), rng.uniform(0.3, 0.8)])
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.6)
        pos = np.array([centre[0] + dist * np.sin(angle), size[1] / 2, centre[2] + dist * np.cos(angle)])
        out.append({"centre": pos.tolist(), "size": size.tolist(), "yaw": float(rng.uniform(0, np.pi)),
                    "colour": rng.uniform(30, 230, 3).round().tolist()})
    return out
