"""Headless mesh rendering with pyrender: meshes in the camera frame -> colour and depth images -> blended.

Choices the spec leaves open:
- GL platform: a user-set ``PYOPENGL_PLATFORM`` is respected; otherwise EGL is tried, then OSMesa. PyOpenGL
  fixes its platform when ``OpenGL`` is first imported, so the variable is set before importing pyrender, and
  after a failed attempt the ``OpenGL``/``pyrender`` modules this function imported are dropped from
  ``sys.modules`` so the next platform gets a clean import. If ``OpenGL`` was already imported by someone
  else, its platform is used as is.
- One GL context (``pyrender.OffscreenRenderer``) per process, shared by every ``MeshRenderer`` and kept until
  the process ends: pyrender's EGL ``delete()`` calls ``eglTerminate`` on the display, which is shared by all
  contexts of the process, so deleting one renderer would break every other live one. Each ``MeshRenderer``
  has its own scene and viewport size; per frame only its mesh nodes are swapped. Back faces are not culled,
  so a mesh whose faces wind the other way still shows.
- Colour images are read as RGB (OSMesa gives no alpha); the depth buffer (> 0 where a surface is) is the mask,
  and ``blend`` mixes the render into the frame there with a constant opacity.
- Shading: a headlight computed on the CPU per vertex (Lambert with the light at the camera, two-sided, so the
  faces' winding does not matter), drawn with pyrender's FLAT program. pyrender's own PBR shading cost 3x as
  much on llvmpipe (a 20k-triangle sphere at 640x480: 186 vs 57 ms) because a body's triangles are smaller than
  a pixel and each is shaded as a whole block of fragments; building the primitive directly also skips
  trimesh's normals (~30 ms per 10k-vertex mesh). Brightness = AMBIENT + (1 - AMBIENT) |cos(normal, view ray)|:
  full track colour where the surface faces the camera, darker towards the outline so the shape reads.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np

from ..errors import PoseCliError

PLATFORMS = ("egl", "osmesa")
_working: str | None = None  # the platform that created a context in this process
_shared = None  # (pyrender module, OffscreenRenderer): the process's one GL context
AMBIENT = 0.35
# OpenGL looks down -Z with +Y up; the camera frame looks down +Z with +Y down: a 180-degree turn about X.
_CV_TO_GL = np.diag([1.0, -1.0, -1.0])


def _drop_gl_modules() -> None:
    for name in [m for m in sys.modules if m.split(".")[0] in ("OpenGL", "pyrender")]:
        del sys.modules[name]


def _open_context(width: int, height: int):
    """Import pyrender on a working headless platform; returns (pyrender module, OffscreenRenderer)."""
    global _working
    user = os.environ.get("PYOPENGL_PLATFORM")
    if user:
        candidates: Sequence[str | None] = (user,)
    elif "OpenGL" in sys.modules:
        candidates = (None,)  # the platform is already fixed in this process
    else:
        candidates = PLATFORMS
    failures = []
    for platform in candidates:
        imported_here = "OpenGL" not in sys.modules
        if platform is not None:
            os.environ["PYOPENGL_PLATFORM"] = platform
        try:
            import pyrender

            renderer = pyrender.OffscreenRenderer(width, height)
        except Exception as exc:  # missing library, no display device, ...: try the next platform
            name = platform or "OpenGL imported earlier with PYOPENGL_PLATFORM unset, so not headless"
            failures.append(f"{name}: {_first_line(exc)}")
            if not user and platform is not None:
                os.environ.pop("PYOPENGL_PLATFORM", None)
            if imported_here:
                _drop_gl_modules()
            continue
        _working = platform or _working
        return pyrender, renderer
    raise PoseCliError(f"no headless OpenGL platform works for mesh rendering ({'; '.join(failures)})",
                       "install EGL (apt-get install libegl1) or OSMesa (apt-get install libosmesa6), "
                       "or set PYOPENGL_PLATFORM to one that works; skeleton overlays need neither")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__


def _context(width: int, height: int):
    """The process's GL context, opened on first use."""
    global _shared
    if _shared is None:
        _shared = _open_context(width, height)
    return _shared


def gl_platform() -> str | None:
    """The platform of the process's GL context (None before one was opened)."""
    return _working or os.environ.get("PYOPENGL_PLATFORM")


class MeshRenderer:
    """Render triangle meshes given in the camera frame (x right, y down, z forward, metres) through a pinhole
    camera with focal ``focal_px`` and principal point (``cx``, ``cy``) in pixels of a ``width`` x ``height``
    image. Reuse one instance for all frames of a video; ``close()`` (or ``with``) drops its scene."""

    def __init__(self, width: int, height: int, focal_px: float, cx: float, cy: float,
                 znear: float = 0.05, zfar: float = 200.0):
        self.width, self.height = int(width), int(height)
        self._pr, self._renderer = _context(self.width, self.height)
        pr = self._pr
        self._scene = pr.Scene(bg_color=(0.0, 0.0, 0.0, 0.0))
        self._scene.add(pr.IntrinsicsCamera(focal_px, focal_px, cx, cy, znear=znear, zfar=zfar), pose=np.eye(4))
        self._material = pr.MetallicRoughnessMaterial(baseColorFactor=(1.0, 1.0, 1.0, 1.0))
        self._nodes: list = []
        self._flags = pr.RenderFlags.FLAT | pr.RenderFlags.SKIP_CULL_FACES

    def render(self, meshes: Sequence[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]]
               ) -> tuple[np.ndarray, np.ndarray]:
        """``meshes``: (vertices (V, 3) camera frame, faces (F, 3), colour RGB 0-255 (or (V, 3) per vertex)
        [, unit vertex normals (V, 3) camera frame]) per person.
        Returns ``rgb`` (H, W, 3) uint8 and ``depth`` (H, W) float32, metres along z, 0 where no surface."""
        pr = self._pr
        for node in self._nodes:
            self._scene.remove_node(node)
        self._nodes = []
        for vertices, faces, colour, *normals in meshes:
            v = np.asarray(vertices, np.float32)
            ok = np.isfinite(v).all(1)
            if not ok.any():
                continue
            f = np.asarray(faces, np.int64)
            f = f[ok[f].all(1)]  # drop triangles touching a NaN vertex rather than the whole mesh
            v = np.where(ok[:, None], v, 0.0).astype(np.float32)
            shade = headlight(v, f, np.nan_to_num(normals[0]) if normals else None)
            rgba = np.ones((len(v), 4), np.float32)
            rgba[:, :3] = shade[:, None] * (np.asarray(colour, np.float32) / 255.0)
            primitive = pr.Primitive(positions=v @ _CV_TO_GL.astype(np.float32), color_0=rgba,
                                     indices=f.astype(np.uint32), material=self._material, mode=4)  # triangles
            self._nodes.append(self._scene.add(pr.Mesh([primitive])))
        if not self._nodes:
            return (np.zeros((self.height, self.width, 3), np.uint8),
                    np.zeros((self.height, self.width), np.float32))
        self._renderer.viewport_width, self._renderer.viewport_height = self.width, self.height
        rgb, depth = self._renderer.render(self._scene, flags=self._flags)
        return np.asarray(rgb[..., :3]), np.asarray(depth, np.float32)

    def close(self) -> None:
        for node in self._nodes:
            self._scene.remove_node(node)
        self._nodes = []

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals, the area-weighted mean of the adjacent faces' normals."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = twice the area
    n = np.stack([np.bincount(faces.ravel(), np.repeat(fn[:, k], 3), len(vertices)) for k in range(3)], 1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def headlight(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Per-vertex brightness in [AMBIENT, 1] under a light at the camera (see the module docstring).
    ``normals``: unit vertex normals in the camera frame when the caller has them (one mesh seen by many
    cameras: computed once, rotated per camera)."""
    normals = vertex_normals(vertices, faces) if normals is None else normals
    rays = vertices / np.maximum(np.linalg.norm(vertices, axis=1, keepdims=True), 1e-9)
    cos = np.abs((normals * rays).sum(1))
    return (AMBIENT + (1.0 - AMBIENT) * cos).astype(np.float32)


def blend(image: np.ndarray, rgb: np.ndarray, depth: np.ndarray, opacity: float = 0.8) -> np.ndarray:
    """Mix ``rgb`` into ``image`` (in place) where ``depth`` > 0; returns the image."""
    mask = depth > 0
    if mask.any():
        mixed = (1.0 - opacity) * image[mask].astype(np.float32) + opacity * rgb[mask].astype(np.float32)
        image[mask] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return image
