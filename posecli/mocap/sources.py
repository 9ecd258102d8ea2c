"""``--data KIND:PATH``: where a training recipe gets its 3D motion.

- ``cmu:PATH`` (or a bare PATH): a folder of BVH files (prepared on the fly, see ``posecli data prepare``) or a
  prepared ``.npz`` from ``posecli data prepare``;
- ``h36m:PATH``: VideoPose3D's ``data_3d_h36m.npz`` (see ``posecli.mocap.h36m``).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError, PoseCliError
from .dataset import MocapDataset


def load_mocap(spec: str, fps: float = 30.0) -> MocapDataset:
    kind, _, rest = spec.partition(":")
    if not rest or len(kind) == 1:  # a bare path (or a Windows drive letter)
        kind, rest = "cmu", spec
    path = Path(rest)
    if not path.exists():
        raise InputError("does not exist", "give a BVH folder or a prepared .npz after cmu:", path)
    if kind in ("cmu", "bvh"):
        if path.is_dir():
            from .prepare import prepare

            return prepare(path, fps=fps)
        return MocapDataset.load(path)
    if kind == "h36m":
        from .h36m import read_h36m_3d

        return read_h36m_3d(path, fps=fps)
    raise PoseCliError(f"unknown data kind {kind!r} in --data {spec}", "use cmu:PATH or h36m:PATH")
