"""``retrieve --model mcss``: nearest frames by MCSS image embedding (L2 between unit vectors; the paper's
retrieval), over videos (tracked and embedded here) or files from ``embed --model mcss``.

Matches carry ``distance`` (0 = identical embedding, 2 = opposite) where Pr-VIPE's carry ``prob``; otherwise
the result format is ``embed.search.search``'s, so the table, JSON and CSV writers serve both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoseCliError
from ..formats import is_pose_input, read_poses
from ..poses import Poses
from .pipeline import EMBEDDING, mcss_poses


@dataclass
class ImageIndex:
    emb: np.ndarray  # (N, d)
    file: list[str]
    track: np.ndarray
    frame: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.emb)


def embedded(path: Path, weights: Path, track_video, device: str = "cpu") -> Poses:
    """A file from ``embed --model mcss`` as it is, or a video tracked (``track_video(path)``) and embedded."""
    if is_pose_input(path):
        poses = read_poses(path)
        if poses.tracks and not any(EMBEDDING in t.arrays for t in poses.tracks):
            raise PoseCliError("has no MCSS embeddings", "give the video, or a file from posecli embed --model mcss",
                               path)
        return poses
    return mcss_poses(track_video(path), path, weights, device=device)


def build_index(sources: list[tuple[Path, Poses]], tracks: int | None = None, frame: int | None = None) -> ImageIndex:
    parts = []
    for path, poses in sources:
        for t in poses.tracks:
            if (tracks is not None and t.id != tracks) or EMBEDDING not in t.arrays:
                continue
            ok = np.isfinite(t.arrays[EMBEDDING]).all(1)
            if frame is not None:
                ok &= t.frames == frame
            parts.append((t.arrays[EMBEDDING][ok], [str(path)] * int(ok.sum()), np.full(ok.sum(), t.id),
                          t.frames[ok], t.times[ok]))
    if not sum(len(p[0]) for p in parts):
        names = ", ".join(str(p) for p, _ in sources)
        raise PoseCliError(f"{names}: no frame with a person crop to search with",
                           "check the person is in view (posecli info FILE) or pick another --frame/--track")
    return ImageIndex(np.concatenate([p[0] for p in parts]), [f for p in parts for f in p[1]],
                      *(np.concatenate([p[i] for p in parts]) for i in (2, 3, 4)))


def search(query: ImageIndex, index: ImageIndex, k: int, max_distance: float = 2.0,
           exclude_self: bool = True) -> list[dict]:
    files = np.array(index.file, dtype=object)
    results = []
    for q in range(len(query)):
        d = np.linalg.norm(index.emb - query.emb[q], axis=1)
        if exclude_self:
            d[(files == query.file[q]) & (index.track == query.track[q]) & (index.frame == query.frame[q])] = np.inf
        order = np.argsort(d, kind="stable")[:k]
        matches = [{"rank": r, "file": index.file[j], "track": int(index.track[j]), "frame": int(index.frame[j]),
                    "time": float(index.time[j]), "mirrored": False, "distance": float(d[j])}
                   for r, j in enumerate((j for j in order if d[j] <= max_distance), 1)]
        results.append({"query": {"file": query.file[q], "track": int(query.track[q]), "frame": int(query.frame[q]),
                                  "time": float(query.time[q])}, "matches": matches})
    return results
