"""Body models on a torch device (``--device`` of estimate's body fit, render's meshes and synth's posing).

The body objects (``AnnyBody``, ``SmplBody`` and their ``PoseLayout``) keep their tensors as plain attributes:
they are the fitter's interface (joints, Jacobians, priors), not ``nn.Module``s with one forward pass. Moving
them is done here, once, for all of them: ``to(device)`` gives a copy whose tensors, modules and nested body
objects are on ``device``. The original stays where it is, because it is cached and shared (the CPU model of a
process); the copy is cached on it, so asking twice costs nothing. Every tensor the body code creates names its
device (the body's, or its inputs'): ``tests/test_body.py`` records any constructor posecli's code calls
without one during a fit, a mesh and synth's posing, and checks on torch's ``meta`` device that a moved body
keeps no tensor behind.
"""
from __future__ import annotations

import copy

import torch

_COPIES = "_copies_on_devices"


def same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` are the same device when CUDA's current device is 0; a bare type matches any
    index of that type only for the current device, as torch itself resolves it."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index


class OnDevice:
    """Mixin: ``device`` (where the object's tensors are) and ``to(device)`` (a copy there)."""

    @property
    def device(self) -> torch.device:
        for value in vars(self).values():
            if isinstance(value, torch.Tensor):
                return value.device
        return torch.device("cpu")

    def to(self, device: str | torch.device):
        device = torch.device(device)
        if same_device(device, self.device):
            return self
        copies = self.__dict__.setdefault(_COPIES, {})
        key = str(device)
        if key not in copies:
            moved = copy.copy(self)
            moved.__dict__ = {k: _moved(v, device) for k, v in self.__dict__.items() if k != _COPIES}
            copies[key] = moved
        return copies[key]


def _moved(value, device: torch.device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, torch.nn.Module):  # Module.to moves in place: move a copy, the original is shared
        module = copy.deepcopy(value).to(device)
        for sub in module.modules():  # Module.to moves parameters and buffers, not plain tensor attributes
            for name, attr in list(vars(sub).items()):
                if isinstance(attr, torch.Tensor):
                    setattr(sub, name, attr.to(device))
        return module
    if isinstance(value, OnDevice):
        return value.to(device)
    return value
