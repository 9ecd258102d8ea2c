"""Shipped weights: a safetensors file (fp16) beside a JSON card saying how it was made and how good it is."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..atomic import atomic_path
from ..errors import InputError, PoseCliError


def git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_weights(model: torch.nn.Module, path: str | Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write ``path`` (.safetensors, fp16) and ``path`` with .json: the card, completed with sha256 etc."""
    path = Path(path)
    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "posecli": __version__})
    card = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size, "dtype": "float16", "git_commit": git_commit(),
            "command": " ".join(["posecli", *sys.argv[1:]]) if Path(sys.argv[0]).name == "posecli" else " ".join(sys.argv),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "posecli": __version__, **card}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    return card


def load_weights(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load fp16 weights into ``model`` (kept in its own dtype); returns the card. Checks the sha256."""
    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise InputError("model weights or their card are missing", "reinstall posecli or retrain", path)
    card = json.loads(card_path.read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if card.get("sha256") != digest:
        raise InputError("weights do not match their card's sha256 (corrupt or replaced file)",
                         "restore the file from git", path)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    return card


def load_carded(path: str | Path, kind: str, label: str, command: str, build, device: str = "cpu"):
    """Weights whose card names their model class ``kind``: check the card, ``build(card)`` the module, load it.
    ``label`` ("MCSS") and ``command`` ("posecli train mcss") make the one-line errors."""
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file():
        raise PoseCliError(f"{label} weights have no card beside them", f"train them with {command}", path)
    card = json.loads(card_path.read_text())
    if card.get("model") != kind:
        raise PoseCliError(f"these are {card.get('model')} weights, not {label}'s", f"give weights from {command}",
                           path)
    model = build(card)
    load_weights(model, path)
    return model.to(device).eval(), card
