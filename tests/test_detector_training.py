"""``posecli train detector``: targets in the original detector's layout, anchor assignment, trained weights written
back into the .tflite bytes (LiteRT and torch then agree), and the command end to end on a hand-made dataset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_and_estimate_cli import run

from posecli.detect.anchors import generate_anchors
from posecli.detect.models import DETECTOR_FILE, detector_module, model_path
from posecli.detect.roi import Roi
from posecli.detect.tflite_patch import patched_model
from posecli.errors import PoseCliError
from posecli.formats import write_poses
from posecli.poses import KEYPOINTS_2D, Keypoints, Poses, Track
from posecli.train.detector import DetectorConfig, anchor_strides, assign
from posecli.train.detector_data import BOX_DROP, BOX_SIDE, SCALE_POINT, person_rows, targets_of
from posecli.video import VideoWriter

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two_people_cam01.mp4"


def upright(cx: float, top: float, height: float) -> np.ndarray:
    """COCO-17 points of a person standing upright, head at ``top``, feet at ``top + height``."""
    y = lambda f: top + f * height  # noqa: E731
    w = 0.12 * height
    pts = [(cx, y(0.05)), (cx - 0.02 * height, y(0.03)), (cx + 0.02 * height, y(0.03)), (cx - 0.04 * height, y(0.05)),
           (cx + 0.04 * height, y(0.05)), (cx - w, y(0.18)), (cx + w, y(0.18)), (cx - w, y(0.35)), (cx + w, y(0.35)),
           (cx - w, y(0.5)), (cx + w, y(0.5)), (cx - 0.6 * w, y(0.52)), (cx + 0.6 * w, y(0.52)),
           (cx - 0.6 * w, y(0.75)), (cx + 0.6 * w, y(0.75)), (cx - 0.6 * w, y(1.0)), (cx + 0.6 * w, y(1.0))]
    return np.array(pts, dtype=np.float64)


IDENTITY = np.array([[1.0, 0, 0], [0, 1.0, 0]])


def test_targets_follow_the_original_detectors_layout():
    uv = upright(112, 40, 150)
    row = person_rows(uv, np.ones(17, bool), IDENTITY)[0]
    hip, radius = uv[[11, 12]].mean(0), np.linalg.norm(uv - uv[[11, 12]].mean(0), axis=1).max()
    assert np.allclose(row[0:2], hip) and row[6] == pytest.approx(radius) and row[8] == 17
    centre, values = targets_of(row)
    # scale point straight above the hip centre at 1.10 R; box a square below the head centre
    assert np.allclose(values[6:8], hip + [0, -SCALE_POINT * radius])
    assert values[2] == values[3] == pytest.approx(BOX_SIDE * radius)
    assert np.allclose(centre, uv[:5].mean(0) + [0, BOX_DROP * radius])
    # a mirrored crop point set is invalid when a joint is unknown
    uv[3] = np.nan
    assert person_rows(uv, np.ones(17, bool), IDENTITY).shape[0] == 0


def test_anchors_are_assigned_near_the_head_on_the_fine_grids_and_hidden_people_are_left_out():
    anchors, strides, cfg = generate_anchors() * 224, anchor_strides(), DetectorConfig()
    seen = person_rows(upright(60, 30, 160), np.ones(17, bool), IDENTITY)
    hidden_vis = np.zeros(17, bool)
    hidden_vis[:3] = True  # 3 joints visible: too few to count
    hidden = person_rows(upright(170, 30, 160), hidden_vis, IDENTITY)
    labels, reg, radius = assign(np.concatenate([seen, hidden]), cfg, anchors, strides)
    pos = labels > 0
    assert set(strides[pos]) == {8.0, 16.0}  # the stride-32 grid never fires in the original
    centre, values = targets_of(seen[0])
    assert (np.linalg.norm(anchors[pos] - centre, axis=1) <= cfg.anchor_reach * strides[pos] + 8).all()
    # targets relative to each anchor decode back to the absolute values
    assert np.allclose(reg[pos][:, 4:6] + anchors[pos], values[4:6], atol=1e-3)
    assert np.allclose(radius[pos], seen[0, 6])
    # around the hidden person: neither positive nor negative; far from both: negative
    near_hidden = np.linalg.norm(anchors - hidden[0, 0:2], axis=1) < 20
    assert (labels[near_hidden] == -1).all()
    far = (anchors > 218).all(1)
    assert far.any() and (labels[far] == 0).all()


def test_trained_weights_run_in_litert_as_in_torch():
    from ai_edge_litert.interpreter import Interpreter

    module, _ = detector_module()
    path = model_path(DETECTOR_FILE)
    assert patched_model(path, module) == path.read_bytes()  # unchanged weights: the same file, byte for byte
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():  # change every stored weight, keep the sparse layers' zeros
            p += (p != 0) * 0.05 * p.abs().mean() * torch.randn(p.shape, generator=g)
            p.copy_(p.half().float())  # fp16, as the weights are stored
    interp = Interpreter(model_content=patched_model(path, module))
    interp.allocate_tensors()
    x = np.random.default_rng(1).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    lite = sorted((interp.get_tensor(o["index"]) for o in interp.get_output_details()), key=lambda a: -a.shape[-1])
    original = Interpreter(model_path=str(path))
    original.allocate_tensors()
    original.set_tensor(original.get_input_details()[0]["index"], x)
    original.invoke()
    before = sorted((original.get_tensor(o["index"]) for o in original.get_output_details()),
                    key=lambda a: -a.shape[-1])
    with torch.no_grad():
        ours = [t.numpy() for t in module(torch.from_numpy(x))]
    for a, b, c in zip(lite, ours, before):
        assert np.abs(a - b).max() < 0.02 * np.abs(b).max()  # LiteRT runs the new weights...
        assert np.abs(c - b).max() > 0.2 * np.abs(b).max()  # ...which differ from the wheel's
    with torch.no_grad():
        sparse = next(p for p in module.parameters() if p.dim() == 4 and (p == 0).float().mean() > 0.5)
        sparse[sparse == 0] = 1.0
    with pytest.raises(PoseCliError, match="sparse"):
        patched_model(path, module)


def make_detector_dataset(root: Path, clips: int = 2, frames: int = 4) -> None:
    """``clips`` clips of one view each: frames of the example video with two people's points (not where the real
    people are; the command's mechanics are what is tested)."""
    from posecli.video import read_frames

    images = [f.image for f in read_frames(EXAMPLE, end=frames)]
    h, w = images[0].shape[:2]
    entries = []
    for k in range(clips):
        folder = root / f"clip_{k:04d}"
        folder.mkdir(parents=True)
        with VideoWriter(folder / "cam_01.mp4", fps=30.0) as out:
            for im in images:
                out.write(im)
        tracks = []
        for tid, cx in ((1, 0.3 * w), (2, 0.7 * w)):
            uv = np.repeat(upright(cx, 0.2 * h, 0.6 * h)[None], frames, 0).astype(np.float32)
            tracks.append(Track(tid, np.arange(frames), np.arange(frames) / 30.0,
                                {KEYPOINTS_2D: Keypoints("coco17", uv, np.ones((frames, 17), np.float32))},
                                {"visibility_coco17": np.full((frames, 17), 2, np.int8)}))
        write_poses(Poses(tracks, 30.0, w, h, frames), folder / "cam_01.npz")
        entries.append({"name": folder.name, "views": [{"name": "cam_01", "video": f"{folder.name}/cam_01.mp4",
                                                        "poses": f"{folder.name}/cam_01.npz"}]})
    (root / "manifest.json").write_text(json.dumps({"schema": "posecli.synth", "options": {"frames": frames},
                                                    "clips": entries}))


def test_train_detector_end_to_end_then_track_with_it(tmp_path, capsys):
    data = tmp_path / "synth"
    make_detector_dataset(data)
    out = tmp_path / "det.safetensors"
    code, _, err = run(capsys, "train", "detector", "--data", data, "--steps", "2", "--batch", "2", "--val-fraction",
                       "0.5", "-o", out, "--quiet")
    assert code == 0, err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["model"] == "BlazePoseDetector" and card["crops"] == {"train": 12, "held_out": 12}
    held = card["metrics"]["held_out_clips"]
    assert held["fine_tuned"]["people"] == held["original"]["people"] > 0
    assert 0 <= held["fine_tuned"]["recall"] <= 1
    # the sparse layers' zeros survived training
    from posecli.detect.models import fine_tuned_detector

    trained, _ = fine_tuned_detector(out)
    wheel, _ = detector_module()
    for a, b in zip(trained.parameters(), wheel.parameters()):
        if b.dim() == 4:  # convolution weights (biases are stored dense)
            assert torch.equal(a == 0, b == 0)
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), wheel.parameters()))
    # the detector used by track runs the trained weights (LiteRT, written back into the file), not the wheel's
    from posecli.detect.detector import PersonDetector
    from posecli.detect.roi import letterbox_roi, warp_crop
    from posecli.video import read_frames

    image = next(iter(read_frames(EXAMPLE))).image
    x = warp_crop(image, letterbox_roi(image.shape[1], image.shape[0]), 224, border="zero")[None] / 127.5 - 1
    mine, torch_port, wheel = (PersonDetector(weights=out), PersonDetector(weights=out, runtime="torch"),
                               PersonDetector())
    assert mine.card["sha256"] == card["sha256"] and wheel.card is None
    a, b, c = (d._model(x.astype(np.float32))[d._scores] for d in (mine, torch_port, wheel))
    assert np.abs(a - b).max() < 0.05 * np.abs(b).max() and np.abs(a - c).max() > 1e-3
    tracks = tmp_path / "t.npz"
    code, _, err = run(capsys, "track", EXAMPLE, "--end", "3", "--detector", out, "-o", tracks, "--quiet")
    assert code == 0, err
    assert tracks.is_file()


def test_bad_detector_inputs_are_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "detector", "--data", tmp_path, "-o", tmp_path / "d.safetensors")
    assert code == 1 and "not a posecli synth dataset" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "track", EXAMPLE, "--detector", tmp_path / "none.safetensors", "-o", tmp_path / "t.npz")
    assert code == 1 and "no card" in err and not (tmp_path / "t.npz").exists()
    code, _, err = run(capsys, "track", EXAMPLE, "--detector", tmp_path / "none.safetensors", "--backend",
                       "mediapipe-single", "-o", tmp_path / "t.npz")
    assert code == 1 and "one-person" in err


def test_sample_regions_cover_the_tracker_tiles_and_random_squares():
    from posecli.train.detector_data import sample_regions

    rois = sample_regions(np.random.default_rng(0), 960, 540, 200)
    sides = np.array([r.size for r in rois])
    assert isinstance(rois[0], Roi) and sides.min() < 0.35 * 540 and sides.max() > 0.9 * 960
