"""``retrieve``: the frames of many files as one searchable index of Pr-VIPE embeddings, and top-k search."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoseCliError
from ..poses import Poses
from .matching import points, scores
from .pipeline import embed_track
from .retrieval import top_k

_QUERY_BLOCK = 256


@dataclass
class PoseIndex:
    mu: np.ndarray  # (N, d)
    sigma: np.ndarray  # (N, d)
    file: list[str]  # per entry
    track: np.ndarray  # (N,)
    frame: np.ndarray  # (N,) video frame index
    time: np.ndarray  # (N,) seconds
    mirrored: np.ndarray  # (N,) bool: the entry is the mirror image of the pose

    def __len__(self) -> int:
        return len(self.mu)

    @classmethod
    def build(cls, model, sources: list[tuple[Path, Poses]], device: str = "cpu", tracks: int | None = None,
              frame: int | None = None, mirror: bool = False) -> PoseIndex:
        """Valid frames of every track of every source (optionally one track / one frame; with mirror images)."""
        parts: list[tuple] = []
        for path, poses in sources:
            chosen = [t for t in poses.tracks if tracks is None or t.id == tracks]
            if tracks is not None and not chosen:
                raise PoseCliError(f"{path}: no track {tracks}", f"ids present: {[t.id for t in poses.tracks]}")
            for t in chosen:
                keep = np.ones(len(t), bool) if frame is None else t.frames == frame
                if not keep.any():
                    continue
                for mirrored in (False, True) if mirror else (False,):
                    e = embed_track(model, t, mirrored=mirrored, device=device)
                    ok = keep & e["valid"]
                    parts.append((e["mu"][ok], e["sigma"][ok], [str(path)] * int(ok.sum()),
                                  np.full(ok.sum(), t.id), t.frames[ok], t.times[ok], np.full(ok.sum(), mirrored)))
        if not parts or not sum(len(p[0]) for p in parts):
            names = ", ".join(str(p) for p, _ in sources)
            where = f" at frame {frame}" if frame is not None else ""
            raise PoseCliError(f"{names}: no pose with enough visible joints{where} to search with",
                               "check the person is in view (posecli info FILE) or pick another --frame/--track")
        cat = [np.concatenate([p[i] for p in parts]) for i in (0, 1)]
        return cls(cat[0], cat[1], [f for p in parts for f in p[2]],
                   *(np.concatenate([p[i] for p in parts]) for i in (3, 4, 5, 6)))


def search(model, query: PoseIndex, index: PoseIndex, k: int, scoring: str = "sampled", min_prob: float = 0.0,
           seed: int = 0, exclude_self: bool = True) -> list[dict]:
    """Top-k index entries per query entry by matching probability (ties by index order: deterministic).

    ``exclude_self`` skips an index entry that is the query pose itself (same file, track and frame, not
    mirrored), which would otherwise always come first when a file is searched against itself.
    """
    zq = points(model, {"mu": query.mu, "sigma": query.sigma}, scoring, seed=seed)
    zi = points(model, {"mu": index.mu, "sigma": index.sigma}, scoring, seed=seed + 1)
    files = np.array(index.file, dtype=object)
    results = []
    for s in range(0, len(query), _QUERY_BLOCK):
        p = scores(model, zq[s:s + _QUERY_BLOCK], zi)
        if exclude_self:
            for r in range(len(p)):
                q = s + r
                same = (files == query.file[q]) & (index.track == query.track[q]) & (index.frame == query.frame[q])
                p[r, same & ~index.mirrored] = -np.inf
        best = top_k(p, min(k + int(exclude_self), len(index)))
        for r, row in enumerate(best):
            q = s + r
            matches = [{"rank": 0, "file": index.file[j], "track": int(index.track[j]), "frame": int(index.frame[j]),
                        "time": float(index.time[j]), "mirrored": bool(index.mirrored[j]), "prob": float(p[r, j])}
                       for j in row if p[r, j] >= min_prob][:k]
            for rank, m in enumerate(matches, 1):
                m["rank"] = rank
            results.append({"query": {"file": query.file[q], "track": int(query.track[q]),
                                      "frame": int(query.frame[q]), "time": float(query.time[q])},
                            "matches": matches})
    return results
