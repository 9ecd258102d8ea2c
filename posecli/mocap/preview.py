"""A picture to check rig maps by eye: the 3D skeleton (H36M-17 bones, COCO-17 points) and what virtual
cameras see of it, drawn with matplotlib (headless Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import joints
from ..atomic import atomic_path
from .dataset import Sequence

LEFT, RIGHT, MID = "tab:blue", "tab:red", "0.3"


def _colour(js: joints.JointSet, a: int, b: int) -> str:
    names = js.joints[a] + js.joints[b]
    return LEFT if "left" in names else RIGHT if "right" in names else MID


def draw_preview(seq: Sequence, frame: int, path: str | Path, cameras: int = 3, seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..synth2d import CameraSampler

    h36m, coco = seq.joints["h36m17"][frame], seq.joints["coco17"][frame]
    h, c = joints.H36M17, joints.COCO17
    fig = plt.figure(figsize=(4.5 * (cameras + 1), 5.5))
    ax = fig.add_subplot(1, cameras + 1, 1, projection="3d")
    for a, b in h.edges:  # world is Y up; matplotlib's 3D is Z up: plot (x, z, y)
        ax.plot(*[[h36m[a, k], h36m[b, k]] for k in (0, 2, 1)], color=_colour(h, a, b), lw=2)
    ax.scatter(coco[:, 0], coco[:, 2], coco[:, 1], s=10, c="k")
    lo, hi = h36m.min(0), h36m.max(0)
    mid, half = (lo + hi) / 2, (hi - lo).max() / 2 + 0.1
    ax.set(xlim=(mid[0] - half, mid[0] + half), ylim=(mid[2] - half, mid[2] + half), zlim=(0, 2 * half),
           xlabel="x", ylabel="z", zlabel="y (up)", title=f"{seq.subject}/{seq.name} frame {frame}\n"
                                                           "blue = left, red = right")
    xx, zz = np.meshgrid([mid[0] - half, mid[0] + half], [mid[2] - half, mid[2] + half])
    ax.plot_surface(xx, zz, np.zeros_like(xx), alpha=0.15, color="tab:green")  # the floor, y = 0
    # Cameras framed on this frame's pose (training frames the whole clip; here the point is to see the map).
    views = CameraSampler(fit_in_frame=True).sample(np.random.default_rng(seed), h36m[0], cameras,
                                                   points=np.concatenate([h36m, coco])[None])
    for i, cam in enumerate(views):
        ax2 = fig.add_subplot(1, cameras + 1, i + 2)
        uv_h, uv_c = cam.project(h36m)[0], cam.project(coco)[0]
        for a, b in c.edges:
            ax2.plot([uv_c[a, 0], uv_c[b, 0]], [uv_c[a, 1], uv_c[b, 1]], color=_colour(c, a, b), lw=2)
        ax2.scatter(uv_h[:, 0], uv_h[:, 1], s=8, c="0.5", label="H36M-17")
        ax2.add_patch(plt.Rectangle((0, 0), cam.width, cam.height, fill=False, lw=1))
        ax2.set(xlim=(0, cam.width), ylim=(cam.height, 0), aspect="equal",
                title=f"camera {i + 1}: {cam.width}x{cam.height}, f={cam.K[0, 0]:.0f}px")
        ax2.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
