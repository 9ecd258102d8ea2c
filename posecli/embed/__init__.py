"""View-invariant probabilistic pose embeddings (Pr-VIPE, seed 003): normalisation, embedding, retrieval."""
from __future__ import annotations

import numpy as np
import torch

from .normalize import NUM_INPUT, mirror_input, model_input, normalize_2d, normalize_3d, np_mpjpe, np_mpjpe_matrix
from .retrieval import hit_at_k, rank, top_k

__all__ = ["embed_inputs", "embed_poses", "mirror_input", "hit_at_k", "model_input", "normalize_2d", "normalize_3d", "np_mpjpe", "np_mpjpe_matrix",
           "rank", "rolled_input", "top_k"]

# Test-time roll augmentation of every embedding (degrees; empty: one pass). Session 16's decision rule chooses it.
TTA_ROLLS: tuple[float, ...] = ()


@torch.no_grad()
def embed_poses(model, points: np.ndarray, confidence: np.ndarray, samples: int | None = None, seed: int = 0,
                device: str = "cpu", batch: int = 4096) -> dict[str, np.ndarray]:
    """COCO-17 2D poses (N, 17, 2) + (N, 17) -> {"mu": (N, d), "sigma": (N, d), "samples": (N, K, d)}.

    ``model`` is a :class:`posecli.models.prvipe.PrVIPE` (put in eval mode here). Samples come from a generator
    seeded with ``seed``, so the same poses always get the same samples and sampled scores are reproducible.
    """
    return embed_inputs(model, model_input(points, confidence), samples, seed, device, batch)


def rolled_input(x: np.ndarray, degrees: float) -> np.ndarray:
    """Model inputs (..., W * 39) of the same 2D turned by ``degrees`` in the image plane about the hip centre
    (the inputs' origin; the torso scale does not change under a turn): what a camera rolled by that angle sees."""
    x = np.asarray(x, dtype=np.float32)
    frames = x.reshape(*x.shape[:-1], -1, 3 * NUM_INPUT)
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    pts = frames[..., :2 * NUM_INPUT].reshape(*frames.shape[:-1], NUM_INPUT, 2) @ rot.T
    out = np.concatenate([pts.reshape(*frames.shape[:-1], 2 * NUM_INPUT), frames[..., 2 * NUM_INPUT:]], -1)
    return out.reshape(x.shape)


@torch.no_grad()
def embed_inputs(model, inputs: np.ndarray, samples: int | None = None, seed: int = 0, device: str = "cpu",
                 batch: int = 4096, rolls: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
    """:func:`embed_poses` on model inputs (N, 39) (:func:`model_input`, or :func:`mirror_input` of them).

    ``rolls`` (default ``TTA_ROLLS``): the inputs are also embedded turned by these angles in the image plane
    (:func:`rolled_input`), and mu and sigma averaged over the copies before sampling. Pr-VIPE trains with camera
    rolls of +-30 degrees, so the turned copies are other views of the same pose."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    rolls = TTA_ROLLS if rolls is None else rolls
    copies = [torch.as_tensor(np.asarray(inputs, dtype=np.float32))] + [
        torch.as_tensor(rolled_input(inputs, r)) for r in rolls]
    parts: dict[str, list[torch.Tensor]] = {"mu": [], "sigma": [], "samples": []}
    for s in range(0, len(copies[0]), batch):
        outs = [model(x[s:s + batch].to(device)) for x in copies]
        out = {k: torch.stack([o[k] for o in outs]).mean(0) for k in ("mu", "sigma")}
        parts["samples"].append(model.sample(out, samples, generator=gen).cpu())
        parts["mu"].append(out["mu"].cpu())
        parts["sigma"].append(out["sigma"].cpu())
    dim, k = model.config.dim, samples or model.config.samples
    empty = {"mu": (0, dim), "sigma": (0, dim), "samples": (0, k, dim)}
    return {key: torch.cat(v).numpy() if v else np.zeros(empty[key], np.float32) for key, v in parts.items()}
