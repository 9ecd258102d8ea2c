"""A crop cache as H.264: one small video per (group, view) sequence, ~50x smaller than the raw cache
(112 px crops: ~0.7 kB each at CRF 23 against 37.6 kB raw), for moving a training set to a GPU machine or a
cluster. Lossy (CRF 23, 4:2:0); ``unpack`` rebuilds a normal cache with the same crop
order and index. The index and meta travel unchanged beside the videos.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cache import load_cache

CRF = 23


def pack_cache(cache: str | Path, out: str | Path, crf: int = CRF) -> Path:
    import av

    crops = load_cache(cache)
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    key = crops.group.astype(np.int64) * 4096 + crops.view
    order = np.lexsort((crops.time, key))
    seq_of = np.zeros(len(crops), np.int32)
    pos_of = np.zeros(len(crops), np.int32)
    seqs = np.unique(key[order], return_index=True)[1]
    bounds = list(seqs) + [len(order)]
    s = crops.size
    for n, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        members = order[a:b]
        seq_of[members] = n
        pos_of[members] = np.arange(len(members))
        with av.open(str(tmp / f"seq_{n:05d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width = stream.height = s
            stream.pix_fmt = "yuv420p"  # any H.264 decoder reads it (OpenCV's included)
            stream.options = {"crf": str(crf), "preset": "slow"}
            for i in members:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crops.crops[i]), format="rgb24")
                for p in stream.encode(frame):
                    container.mux(p)
            for p in stream.encode():
                container.mux(p)
    shutil.copy(Path(cache) / "index.npz", tmp / "index.npz")
    np.savez(tmp / "pack.npz", sequence=seq_of, position=pos_of)
    meta = json.loads((Path(cache) / "meta.json").read_text())
    (tmp / "meta.json").write_text(json.dumps({**meta, "packed": {"crf": crf, "sequences": len(bounds) - 1}}))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _decode(path: Path) -> list[np.ndarray]:
    """OpenCV, not PyAV, decodes: a GPU machine with only torch and opencv-headless can unpack a cache."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[..., ::-1])
    cap.release()
    return frames


def unpack_cache(packed: str | Path, out: str | Path) -> Path:
    packed, out = Path(packed), Path(out)
    if not (packed / "pack.npz").is_file():
        raise InputError("is not a packed crop cache (no pack.npz)", "make one with images.pack.pack_cache", packed)
    meta = json.loads((packed / "meta.json").read_text())
    n, s = int(meta["count"]), int(meta["size"])
    with np.load(packed / "pack.npz") as z:
        seq, pos = z["sequence"], z["position"]
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    crops = np.memmap(tmp / "crops.u8", np.uint8, "w+", shape=(n, s, s, 3))
    for k in np.unique(seq):
        members = np.flatnonzero(seq == k)
        members = members[np.argsort(pos[members])]
        frames = _decode(packed / f"seq_{k:05d}.mp4")
        if len(frames) != len(members):
            raise InputError(f"sequence {k} has {len(frames)} frames, the index says {len(members)}",
                             "copy the packed cache again", packed)
        crops[members] = np.stack(frames)
    crops.flush()
    del crops
    shutil.copy(packed / "index.npz", tmp / "index.npz")
    meta.pop("packed", None)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
