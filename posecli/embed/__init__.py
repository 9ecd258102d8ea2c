"""View-invariant probabilistic pose embeddings (Pr-VIPE, seed 003): normalisation, embedding, retrieval."""
from __future__ import annotations

import numpy as np
import torch

from .normalize import mirror_input, model_input, normalize_2d, normalize_3d, np_mpjpe, np_mpjpe_matrix
from .retrieval import hit_at_k, rank, top_k

__all__ = ["embed_inputs", "embed_poses", "mirror_input", "hit_at_k", "model_input", "normalize_2d", "normalize_3d", "np_mpjpe", "np_mpjpe_matrix",
           "rank", "top_k"]


@torch.no_grad()
def embed_poses(model, points: np.ndarray, confidence: np.ndarray, samples: int | None = None, seed: int = 0,
                device: str = "cpu", batch: int = 4096) -> dict[str, np.ndarray]:
    """COCO-17 2D poses (N, 17, 2) + (N, 17) -> {"mu": (N, d), "sigma": (N, d), "samples": (N, K, d)}.

    ``model`` is a :class:`posecli.models.prvipe.PrVIPE` (put in eval mode here). Samples come from a generator
    seeded with ``seed``, so the same poses always get the same samples and sampled scores are reproducible.
    """
    return embed_inputs(model, model_input(points, confidence), samples, seed, device, batch)


@torch.no_grad()
def embed_inputs(model, inputs: np.ndarray, samples: int | None = None, seed: int = 0, device: str = "cpu",
                 batch: int = 4096) -> dict[str, np.ndarray]:
    """:func:`embed_poses` on model inputs (N, 39) (:func:`model_input`, or :func:`mirror_input` of them)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
    parts: dict[str, list[torch.Tensor]] = {"mu": [], "sigma": [], "samples": []}
    for s in range(0, len(x), batch):
        out = model(x[s:s + batch].to(device))
        parts["samples"].append(model.sample(out, samples, generator=gen).cpu())
        parts["mu"].append(out["mu"].cpu())
        parts["sigma"].append(out["sigma"].cpu())
    dim, k = model.config.dim, samples or model.config.samples
    empty = {"mu": (0, dim), "sigma": (0, dim), "samples": (0, k, dim)}
    return {key: torch.cat(v).numpy() if v else np.zeros(empty[key], np.float32) for key, v in parts.items()}
