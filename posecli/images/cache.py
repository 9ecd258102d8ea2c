"""Person crops stored once, memory-mapped: ``DIR/crops.u8`` (N x S x S x 3 uint8, raw), ``DIR/index.npz``
(per crop: group, subject, view, instant, 3D pose, crop square) and ``DIR/meta.json`` (names, size, source).

A *group* is one synchronised recording (a synth clip, a Human3.6M subject's action, a take of the user's
lab): crops of one group with the same ``instant`` show the same pose from different ``view``s, which is
what MCSS's metric loss pairs. ``subject`` names the person (hard negatives are mined within one subject).
``pose`` is the H36M-17 skeleton in metres in a Y-up world (NaN when the source has no 3D label).

The cache is written to ``DIR.part`` and renamed when complete, so an interrupted build never leaves a cache
that looks finished; training reads crops straight from the page cache, never decoding video.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

SCHEMA = "posecli.crops"


@dataclass
class FrameSample:
    """One person in one frame of one view, before cropping (what every source yields)."""
    group: str
    subject: str
    view: str
    instant: int
    image: np.ndarray  # H x W x 3 uint8 RGB
    square: np.ndarray  # (cx, cy, side) pixels
    pose: np.ndarray | None = None  # (17, 3) metres, Y-up world, H36M-17; None = unlabelled
    time: float | None = None  # seconds from the recording's start; None: instant / the cache's "fps"


@dataclass
class CropSet:
    crops: np.ndarray  # (N, S, S, 3) uint8 (memory-mapped when loaded)
    group: np.ndarray  # (N,) int32 index into meta["groups"]
    subject: np.ndarray  # (N,) int32 index into meta["subjects"]
    view: np.ndarray  # (N,) int32 index into meta["views"]
    instant: np.ndarray  # (N,) int32 frame index within the group
    pose: np.ndarray  # (N, 17, 3) float32, NaN where unlabelled
    square: np.ndarray  # (N, 3) float32 crop square in the source image
    time: np.ndarray  # (N,) float64 seconds from the recording's start
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.group)

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])

    @property
    def labelled(self) -> np.ndarray:
        return np.isfinite(self.pose).all((1, 2))

    def names(self, kind: str) -> list[str]:
        return list(self.meta[kind])

    def subset(self, keep: np.ndarray) -> CropSet:
        """The crops where ``keep`` (bool or indices); crops are read into memory."""
        keep = np.asarray(keep)
        return CropSet(np.asarray(self.crops[keep]), self.group[keep], self.subject[keep], self.view[keep],
                       self.instant[keep], self.pose[keep], self.square[keep], self.time[keep], dict(self.meta))


class CacheWriter:
    """Append samples, crop each once; ``close()`` makes the cache visible (or ``abort()`` drops it)."""

    def __init__(self, out: str | Path, size: int, source: str):
        from .crops import crop

        self._crop = crop
        self.out = Path(out)
        if self.out.exists():
            raise InputError(f"{self.out} already exists", "choose a new --cache folder or delete the old one")
        self.tmp = self.out.with_name(self.out.name + ".part")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.size, self.source = size, source
        self._file = open(self.tmp / "crops.u8", "wb")
        self._names: dict[str, dict[str, int]] = {"groups": {}, "subjects": {}, "views": {}}
        self._rows: dict[str, list] = {k: [] for k in ("group", "subject", "view", "instant", "pose", "square",
                                                        "time")}

    def _id(self, kind: str, name: str) -> int:
        table = self._names[kind]
        return table.setdefault(name, len(table))

    def add(self, s: FrameSample) -> None:
        self._file.write(np.ascontiguousarray(self._crop(s.image, s.square, self.size)).tobytes())
        r = self._rows
        r["group"].append(self._id("groups", s.group))
        r["subject"].append(self._id("subjects", s.subject))
        r["view"].append(self._id("views", s.view))
        r["instant"].append(int(s.instant))
        r["pose"].append(np.full((17, 3), np.nan, np.float32) if s.pose is None else np.asarray(s.pose, np.float32))
        r["square"].append(np.asarray(s.square, np.float32))
        r["time"].append(np.nan if s.time is None else float(s.time))

    def __len__(self) -> int:
        return len(self._rows["group"])

    def close(self, extra: dict | None = None) -> Path:
        self._file.close()
        if not len(self):
            self.abort()
            raise InputError(f"no person crops came out of {self.source}",
                             "check the data spec: the source has no frames with a visible person")
        r = self._rows
        np.savez(self.tmp / "index.npz", group=np.array(r["group"], np.int32),
                 subject=np.array(r["subject"], np.int32), view=np.array(r["view"], np.int32),
                 instant=np.array(r["instant"], np.int32), pose=np.stack(r["pose"]).astype(np.float32),
                 square=np.stack(r["square"]).astype(np.float32), time=np.array(r["time"], np.float64))
        meta = {"schema": SCHEMA, "version": 1, "size": self.size, "count": len(self), "source": self.source,
                **{k: list(v) for k, v in self._names.items()}, **(extra or {})}
        (self.tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        self.tmp.rename(self.out)
        return self.out

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_cache(samples, out: str | Path, size: int, source: str, extra: dict | None = None,
                advance=lambda n=1: None) -> Path:
    """Crop every sample of an iterable into a new cache at ``out``; nothing is left behind on failure."""
    writer = CacheWriter(out, size, source)
    try:
        for s in samples:
            writer.add(s)
            advance()
    except BaseException:
        writer.abort()
        raise
    return writer.close(extra)


def is_cache(path: str | Path) -> bool:
    return (Path(path) / "meta.json").is_file() and (Path(path) / "crops.u8").is_file()


def load_cache(path: str | Path) -> CropSet:
    path = Path(path)
    if not is_cache(path):
        raise InputError(f"{path} is not a crop cache (no meta.json + crops.u8)",
                         "build one with posecli train mcss --data SPEC --cache DIR")
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("schema") != SCHEMA:
        raise InputError(f"{path}/meta.json is not a posecli crop cache", "rebuild the cache")
    n, s = int(meta["count"]), int(meta["size"])
    expected = n * s * s * 3
    actual = (path / "crops.u8").stat().st_size
    if actual != expected:
        raise InputError(f"{path}/crops.u8 has {actual} bytes, the index says {expected} (truncated copy?)",
                         "rebuild the cache")
    crops = np.memmap(path / "crops.u8", np.uint8, "r", shape=(n, s, s, 3))
    with np.load(path / "index.npz") as z:
        idx = {k: z[k] for k in z.files}
    time = np.where(np.isfinite(idx["time"]), idx["time"], idx["instant"] / float(meta.get("fps", 30.0)))
    return CropSet(crops, idx["group"], idx["subject"], idx["view"], idx["instant"], idx["pose"],
                   idx["square"], time, meta)
