"""Benchmark BlazePose ported to torch against LiteRT on the same frames, in one run.

Per video (frames evenly spaced): people found by each runtime, detector score and keypoint differences, landmark
differences (pixels and world metres), and the time of each model stage: one whole-image detector pass, the tiled
detector search (whole image + level-1 and level-2 tiles, one batch for the torch port), and the landmark model on
every person of the frame (one batch for the torch port); then both in ``track``'s loop over consecutive
frames (:func:`tracking_loop`).  Before the rows, the one-off conversion time of each .tflite file.
Prints one JSON object per row and a summary table.  Usage:

    python bench/blazepose_torch.py [--device cpu|cuda] [--frames 20] [VIDEO ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from posecli.detect import BlazePoseMulti, models, roi_from_detection
from posecli.detect.tflite_torch import load_tflite
from posecli.video import probe, read_frames

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
DEFAULT = [SHARED / "pose2sim_single" / "cam01.mp4", SHARED / "pose2sim_multi" / "cam01.mp4",
           SHARED / "sports2d" / "demo.mp4"]


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` wall times (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare(video: Path, litert: BlazePoseMulti, ported: BlazePoseMulti, frames: int) -> dict:
    total = probe(video).frames
    step = max(1, total // frames)
    stats = {k: [] for k in ("det_litert", "det_torch", "tiled_litert", "tiled_torch", "lm_litert", "lm_torch")}
    kp_mean, kp_max, world_max, score_diff = [], [], [], []
    people = {"litert": 0, "torch": 0, "same_count_frames": 0, "frames": 0}
    for frame in read_frames(video, 0, None, step):
        image = frame.image
        t, _ = timed(lambda: litert.detector.detect(image))
        stats["det_litert"].append(t)
        t, _ = timed(lambda: ported.detector.detect(image))
        stats["det_torch"].append(t)
        t, dets = timed(lambda: litert.detector.detect(image, tiled=True, levels=2), 1)
        stats["tiled_litert"].append(t)
        t, _ = timed(lambda: ported.detector.detect(image, tiled=True, levels=2), 1)
        stats["tiled_torch"].append(t)
        # Landmarks on the same ROIs (LiteRT's detections), so that only the landmark model differs.
        rois = [roi_from_detection(d) for d in dets]
        if rois:
            t, la = timed(lambda: litert.landmarks.run_many(image, rois))
            stats["lm_litert"].append(t / len(rois))
            t, lb = timed(lambda: ported.landmarks.run_many(image, rois))
            stats["lm_torch"].append(t / len(rois))
            for a, b in zip(la, lb):
                if a is not None and b is not None:
                    d = np.linalg.norm(a.keypoints - b.keypoints, axis=1)
                    kp_mean.append(float(d.mean()))
                    kp_max.append(float(d.max()))
                    world_max.append(float(np.abs(a.world - b.world).max()))
                    score_diff.append(abs(a.score - b.score))
        pa, pb = litert.process(image), ported.process(image)
        people["litert"] += len(pa)
        people["torch"] += len(pb)
        people["same_count_frames"] += len(pa) == len(pb)
        people["frames"] += 1
        if len(stats["det_litert"]) >= frames:
            break
    ms = {k: round(1000 * float(np.median(v)), 2) if v else None for k, v in stats.items()}
    return {
        "video": f"{video.parent.name}/{video.name}", **people,
        "landmark_px_mean": float(f"{np.mean(kp_mean):.3g}") if kp_mean else None,
        "landmark_px_p95_of_person_max": float(f"{np.percentile(kp_max, 95):.3g}") if kp_max else None,
        "world_m_max": round(float(np.max(world_max)), 5) if world_max else None,
        "pose_score_max_diff": float(np.max(score_diff)) if score_diff else None,
        "ms_detector_litert": ms["det_litert"], "ms_detector_torch": ms["det_torch"],
        "ms_tiled_search_litert": ms["tiled_litert"], "ms_tiled_search_torch": ms["tiled_torch"],
        "ms_landmarks_per_person_litert": ms["lm_litert"], "ms_landmarks_per_person_torch": ms["lm_torch"],
    }


class _Jittered:
    """A landmark runner whose input crops get N(0, 1e-5) noise (1/400 of one 8-bit grey level): the reference
    for how far ``track``'s loop drifts from float-rounding-sized differences alone."""

    def __init__(self, runner, seed: int = 0):
        self.runner, self.outputs, self.rng = runner, runner.outputs, np.random.default_rng(seed)

    def select(self, names):
        self.runner.select(names)

    def __call__(self, batch):
        return self.runner(batch + self.rng.normal(0, 1e-5, batch.shape).astype(np.float32))


def _loop_diffs(a, b, video: Path, frames: int) -> dict:
    diffs, same, n = [], 0, 0
    for frame in read_frames(video, 0, frames):
        pa, pb = a.persons(frame.image), b.persons(frame.image)
        same += len(pa) == len(pb)
        n += 1
        diffs.extend(np.linalg.norm(x.keypoints - y.keypoints, axis=1) for x, y in zip(pa, pb))
    d = np.concatenate(diffs) if diffs else np.full(1, np.nan)
    return {"frames": n, "same_count_frames": same, "px_median": round(float(np.median(d)), 3),
            "px_mean": round(float(d.mean()), 3), "px_p95": round(float(np.percentile(d, 95)), 3)}


def tracking_loop(video: Path, frames: int) -> dict:
    """LiteRT against the torch port in ``track``'s loop (each person's next ROI from their own landmarks) over
    ``frames`` consecutive frames: per-joint pixel differences of the people found, in the same order.  Unlike the
    same-ROI comparison, differences feed back through the ROIs and through the heatmap refinement's whole-cell
    window (a point crossing a cell boundary shifts the window), so they grow to pixels.  Reference, same frames:
    LiteRT against LiteRT with float-rounding-sized noise on its crops (:class:`_Jittered`)."""
    from posecli.track.backends import BlazePoseBackend

    port = _loop_diffs(BlazePoseBackend(), BlazePoseBackend(runtime="torch"), video, frames)
    jittered = BlazePoseBackend()
    jittered.model.landmarks._model = _Jittered(jittered.model.landmarks._model)
    ref = _loop_diffs(BlazePoseBackend(), jittered, video, frames)
    return {f"loop_{k}": v for k, v in port.items()} | {f"loop_jitter_{k}": v for k, v in ref.items()}


def low_precision(video: Path, frames: int, device: str) -> dict:
    """The port in float16 and bfloat16 (weights and activations) against float32, on the ROIs of float32's
    detections: landmark pixel differences and detector score differences (on a CPU these dtypes are emulated
    slowly; the numbers are what a GPU's half precision would change, not its speed)."""
    import torch

    ref = BlazePoseMulti(runtime="torch", device=device)
    out = {}
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        low = BlazePoseMulti(runtime="torch", device=device)
        for m in (low.landmarks, low.detector):
            m._model = models.TorchRunner(m._model.path, device, dtype)
        low.landmarks._model.select(list(ref.landmarks._model.outputs))
        px, worst, scores = [], [], []
        total = probe(video).frames
        for frame in read_frames(video, 0, None, max(1, total // frames)):
            dets = ref.detector.detect(frame.image)
            low_dets = low.detector.detect(frame.image)
            if len(dets) == len(low_dets):
                scores.extend(abs(a.score - b.score) for a, b in zip(dets, low_dets))
            rois = [roi_from_detection(d) for d in dets]
            for a, b in zip(ref.landmarks.run_many(frame.image, rois), low.landmarks.run_many(frame.image, rois)):
                if a is not None and b is not None:
                    d = np.linalg.norm(a.keypoints - b.keypoints, axis=1)
                    px.append(d.mean())
                    worst.append(d.max())
        out |= {f"{name}_px_mean": round(float(np.mean(px)), 3) if px else None,
                f"{name}_px_worst_joint_max": round(float(np.max(worst)), 2) if worst else None,
                f"{name}_detector_score_max_diff": float(f"{max(scores):.3g}") if scores else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--precision", action="store_true", help="also float16 / bfloat16 against float32")
    args = ap.parse_args()
    videos = args.videos or DEFAULT
    missing = [v for v in videos if not v.exists()]
    if missing:
        sys.exit(f"bench: missing {missing[0]} (../shared/data absent?)")
    import torch

    convert = {}
    for parts in (models.DETECTOR_FILE, models.LANDMARK_FILE):
        convert[parts[-1]] = round(timed(lambda p=parts: load_tflite(models.model_path(p)))[0], 3)
    print(json.dumps({"conversion_seconds": convert, "device": args.device, "torch_threads": torch.get_num_threads(),
                      "litert_threads": models.DEFAULT_THREADS}), flush=True)
    litert, ported = BlazePoseMulti(), BlazePoseMulti(runtime="torch", device=args.device)
    rows = []
    for v in videos:
        rows.append(compare(v, litert, ported, args.frames) | tracking_loop(v, 5 * args.frames))
        if args.precision:
            rows[-1] |= low_precision(v, args.frames, args.device)
        print(json.dumps(rows[-1]), flush=True)
    print("\nvideo                    | people L/T | px mean | px p95 max | detector ms L/T | tiled ms L/T "
          "| landmarks ms/person L/T | track loop px median/mean/p95: port | LiteRT jittered")
    for r in rows:
        print(f"{r['video']:<24} | {r['litert']:>4}/{r['torch']:<5} | {r['landmark_px_mean']} | "
              f"{r['landmark_px_p95_of_person_max']} | {r['ms_detector_litert']}/{r['ms_detector_torch']} | "
              f"{r['ms_tiled_search_litert']}/{r['ms_tiled_search_torch']} | "
              f"{r['ms_landmarks_per_person_litert']}/{r['ms_landmarks_per_person_torch']} | "
              f"{r['loop_px_median']}/{r['loop_px_mean']}/{r['loop_px_p95']} | "
              f"{r['loop_jitter_px_median']}/{r['loop_jitter_px_mean']}/{r['loop_jitter_px_p95']}")


if __name__ == "__main__":
    main()
