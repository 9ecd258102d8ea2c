"""The prepared-mocap container every ``posecli train`` recipe reads (VideoPose3D's MocapDataset, kept small).

Subjects -> sequences -> 3D joints in *world* coordinates: metres, **Y up**, floor at y = 0, at ``fps``.
Each sequence carries H36M-17 joints (3D targets) and COCO-17 joints (where a 2D detector would put its points:
the face points are placed from head geometry, see ``posecli.mocap.rigs``). Splits are by subject, never by frame.
Saved as a pickle-free NPZ: ``meta`` (JSON) and ``<joint_set>/<subject>/<sequence>`` arrays (N, 17, 3) float32.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import InputError, SchemaError

SCHEMA = "posecli.mocap"
JOINT_SETS = ("h36m17", "coco17")


@dataclass
class Sequence:
    subject: str
    name: str
    fps: float
    joints: dict[str, np.ndarray]  # joint set -> (N, 17, 3) float32, world metres, Y up
    attrs: dict[str, Any] = field(default_factory=dict)  # source file, description, ...

    def __len__(self) -> int:
        return int(next(iter(self.joints.values())).shape[0])


@dataclass
class MocapDataset:
    sequences: list[Sequence] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def subjects(self) -> list[str]:
        return sorted({s.subject for s in self.sequences})

    def split(self, held_out: list[str]) -> tuple[MocapDataset, MocapDataset]:
        """(train, validation) by whole subjects."""
        unknown = set(held_out) - set(self.subjects)
        if unknown:
            raise SchemaError(f"no subject(s) {sorted(unknown)} in the dataset", f"subjects: {self.subjects}")
        val = [s for s in self.sequences if s.subject in held_out]
        train = [s for s in self.sequences if s.subject not in held_out]
        return MocapDataset(train, dict(self.meta)), MocapDataset(val, dict(self.meta))

    def summary(self) -> dict[str, Any]:
        per = {}
        for s in self.sequences:
            d = per.setdefault(s.subject, {"sequences": 0, "frames": 0})
            d["sequences"] += 1
            d["frames"] += len(s)
        return {"schema": SCHEMA, "subjects": per, "frames": sum(len(s) for s in self.sequences),
                "fps": sorted({s.fps for s in self.sequences}), "joint_sets": list(JOINT_SETS), **self.meta}

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        index = []
        for s in self.sequences:
            index.append({"subject": s.subject, "name": s.name, "fps": s.fps, "attrs": s.attrs})
            for js, arr in s.joints.items():
                arrays[f"{js}/{s.subject}/{s.name}"] = np.asarray(arr, dtype=np.float32)
        arrays["meta"] = np.array(json.dumps({"schema": SCHEMA, "version": 1, "meta": self.meta, "index": index}))
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> MocapDataset:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001 - any failure here means "not a readable NPZ"
            raise InputError(f"not a readable NPZ ({exc})", "re-run posecli data prepare", path) from None
        if "meta" not in data:
            raise SchemaError("not a prepared mocap file (no 'meta')", "make one with posecli data prepare", path)
        head = json.loads(str(data["meta"]))
        if head.get("schema") != SCHEMA:
            raise SchemaError(f"schema is {head.get('schema')!r}, expected {SCHEMA!r}", path=path)
        seqs = []
        for e in head["index"]:
            joints = {js: data[f"{js}/{e['subject']}/{e['name']}"] for js in JOINT_SETS
                      if f"{js}/{e['subject']}/{e['name']}" in data}
            seqs.append(Sequence(e["subject"], e["name"], float(e["fps"]), joints, e.get("attrs", {})))
        return cls(seqs, head.get("meta", {}))
