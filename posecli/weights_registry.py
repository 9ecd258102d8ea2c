"""Where model files come from: the project's own ``weights/`` (trained by ``posecli train``), never the network.

``POSECLI_WEIGHTS`` overrides the folder (e.g. for weights a user trained on their own data).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import PoseCliError

# "estimate" is the default lifter (the VideoPose3D-style TCN since session 4: it won on held-out subjects,
# docs/benchmarks.md); "estimate_sps" the SPS-Net lifter, selectable with `estimate --lifter sps`; "vipe_temporal"
# the temporal Pr-VIPE (17 frames of 2D per embedding), the default of `embed` and `retrieve` (`--model vipe-temporal`);
# "estimate_up" the gravity model: a small lifter trained with leaning trunks whose up head alone gives
# `estimate`'s world frame (session 13).
MODELS = {"estimate": "estimate.safetensors", "estimate_sps": "estimate_sps.safetensors",
          "estimate_up": "estimate_up.safetensors",
          "vipe": "vipe.safetensors", "vipe_temporal": "vipe_temporal.safetensors", "amodal": "amodal.safetensors",
          "mcss": "mcss.safetensors", "css": "css.safetensors"}


def weights_dir() -> Path:
    env = os.environ.get("POSECLI_WEIGHTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "weights"


# The `posecli train` recipe behind each registry name that is not itself a train command.
TRAIN_COMMANDS = {"estimate_sps": "estimate --temporal attention", "estimate_up": "estimate --channels 256 --lean 0.3",
                  "vipe_temporal": "vipe --window 17 --augment --steps 6000"}


def weight_path(model: str, override: str | Path | None = None, option: str = "--weights") -> Path:
    path = Path(override) if override else weights_dir() / MODELS[model]
    if not path.is_file():
        raise PoseCliError(f"model weights not found: {path}",
                           f"train them with `posecli train {TRAIN_COMMANDS.get(model, model)} -o {path}` or pass "
                           f"{option} FILE")
    return path


def shipped_weight(model: str) -> Path | None:
    """The weights folder's file for ``model`` when there is one (optional models: their absence is not an
    error, the caller falls back and says so in its output's meta)."""
    path = weights_dir() / MODELS[model]
    return path if path.is_file() else None
