"""``align --plot``: the smoothed frame-distance matrix with the DTW path over it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path, check_writable


def plot_alignment(cost: np.ndarray, path_frames: np.ndarray, out: str | Path, frames_a: np.ndarray,
                   frames_b: np.ndarray, title: str = "") -> None:
    """``cost`` (N, M) over sequence indices; ``path_frames`` (K, 2) in video frames; axes in video frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_writable(out)
    n, m = cost.shape
    fig, ax = plt.subplots(figsize=(6.5, 6.5 * min(2.0, max(0.5, n / max(m, 1)))))
    extent = (frames_b[0] - 0.5, frames_b[-1] + 0.5, frames_a[-1] + 0.5, frames_a[0] - 0.5)
    im = ax.imshow(cost, cmap="viridis", aspect="auto", extent=extent, interpolation="nearest")
    ax.plot(path_frames[:, 1], path_frames[:, 0], color="w", lw=1.5, label="DTW path")
    ax.set(xlabel="frame of B", ylabel="frame of A", title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax, label="-log p(match), atrous-smoothed")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(out).suffix.lstrip(".") or "png")
    plt.close(fig)
