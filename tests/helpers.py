"""Small test inputs made on the fly (no ../shared needed)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

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
