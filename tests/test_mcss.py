"""MCSS (seed 002): mining, losses, canonical poses, crops, the crop cache and its pack, batches, training,
and the CLI around it. Data are made here (toy stick-figure crops), so nothing needs ../shared."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from posecli import joints
from posecli.images.cache import FrameSample, load_cache, write_cache
from posecli.images.crops import crop, square_from_points
from posecli.images.pack import pack_cache, unpack_cache
from posecli.mcss.canonical import canonical, z_up_to_y_up
from posecli.mcss.evaluate import retrieval
from posecli.mcss.loss import hard_negative_distances, metric_loss
from posecli.mcss.sampling import pair_index, sample_pairs, to_input
from posecli.metrics import n_mpjpe
from posecli.models.mcss import McssConfig, McssNet
from posecli.train.mcss import McssTrainConfig, predict, supervision, train_mcss

H36M = joints.get("h36m17")
TINY = McssConfig(width=8, input_size=32, hidden=32, dim=16)


def test_eq1_mining_on_a_hand_made_distance_matrix():
    d = torch.tensor([[0.10, 0.25, 0.90, 0.50],
                      [0.70, 0.05, 0.40, 0.35],
                      [0.28, 0.80, 0.20, 0.60],
                      [0.45, 0.95, 0.31, 0.15]])
    got = hard_negative_distances(d, beta=0.3)
    # row 0: j in {1: 0.25 <= beta -> inf, 2: 0.90, 3: 0.50} -> 0.50; column 0: k in {1: 0.70, 2: 0.28 -> inf,
    # 3: 0.45} -> 0.45; min = 0.45
    # row 1: {0: 0.70, 2: 0.40, 3: 0.35} -> 0.35; column 1: {0: 0.25 inf, 2: 0.80, 3: 0.95} -> 0.80 -> 0.35
    # row 2: {0: 0.28 inf, 1: 0.80, 3: 0.60} -> 0.60; column 2: {0: 0.90, 1: 0.40, 3: 0.31} -> 0.31 -> 0.31
    # row 3: {0: 0.45, 1: 0.95, 2: 0.31} -> 0.31; column 3: {0: 0.50, 1: 0.35, 2: 0.60} -> 0.35 -> 0.31
    assert torch.allclose(got, torch.tensor([0.45, 0.35, 0.31, 0.31]))
    # everything within beta: no admissible negative -> +inf, and the margin term vanishes
    assert torch.isinf(hard_negative_distances(torch.full((3, 3), 0.1), beta=0.3)).all()


def test_metric_loss_value_and_gradient():
    # two pairs on the unit circle: anchors at 0 and 90 degrees, positives slightly rotated
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    p = torch.tensor([[math.cos(0.1), math.sin(0.1)], [math.cos(1.4), math.sin(1.4)]])
    d = torch.cdist(a.detach(), p)
    expected = ((d[0, 0] + max(0.0, 1.6 - min(d[0, 1], d[1, 0])))
                + (d[1, 1] + max(0.0, 1.6 - min(d[1, 0], d[0, 1])))) / 2
    loss = metric_loss(a, p, alpha=1.6, beta=0.3)
    assert loss.item() == pytest.approx(float(expected), abs=1e-6)
    loss.backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    # groups: a (G, m, d) batch is the mean of the per-group losses
    g = metric_loss(torch.stack([a.detach(), p]), torch.stack([p, a.detach()]), 1.6, 0.3)
    assert g.item() == pytest.approx(0.5 * (metric_loss(a.detach(), p, 1.6, 0.3) + metric_loss(p, a.detach(), 1.6, 0.3)).item())


def _pose(seed: int) -> np.ndarray:
    """A plausible H36M-17 skeleton, Y up, metres, with a random limb pose."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 1.0, 0], [-0.12, 1.0, 0], [-0.12, 0.55, 0], [-0.12, 0.1, 0], [0.12, 1.0, 0],
                     [0.12, 0.55, 0], [0.12, 0.1, 0], [0, 1.25, 0], [0, 1.5, 0], [0, 1.6, 0.05], [0, 1.75, 0],
                     [0.2, 1.5, 0], [0.45, 1.5, 0], [0.7, 1.5, 0], [-0.2, 1.5, 0], [-0.45, 1.5, 0], [-0.7, 1.5, 0]])
    arms = rng.uniform(-0.35, 0.35, (4, 3))
    base[[12, 13, 15, 16]] += arms
    base[[2, 3, 5, 6]] += rng.uniform(-0.15, 0.15, (4, 3)) * np.array([1, 0.3, 1])
    return base


def _yaw(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T


def test_canonical_pose_is_invariant_to_heading_and_position():
    p = _pose(3)
    can = canonical(p)
    assert can.shape == (16, 3)
    assert np.allclose(can[0], 0)  # pelvis at the origin
    lh = joints.get("h36m16").index("left_hip")
    assert abs(can[lh, 2]) < 1e-9 and can[lh, 0] > 0  # pelvis -> left hip along +X
    for angle in (-2.5, -0.3, 1.0, 3.0):
        moved = _yaw(p, angle) + np.array([1.5, 0.0, -2.0])
        assert np.allclose(canonical(moved), can, atol=1e-9)
    # bone lengths are kept (unlike seed 000's canonical form)
    assert np.linalg.norm(can[lh] - can[0]) == pytest.approx(0.12)
    # Z-up worlds (Pose2Sim, Human3.6M) turn into Y-up with handedness kept
    zup = np.stack([p[:, 0], -p[:, 2], p[:, 1]], -1)
    assert np.allclose(z_up_to_y_up(zup), p)


def test_n_mpjpe_removes_scale_only():
    p = canonical(_pose(1))
    assert n_mpjpe(1.3 * p, p) == pytest.approx(0.0, abs=1e-9)
    assert n_mpjpe(p + np.array([0.0, 0.0, 0.05]) * (np.arange(16) % 2)[:, None], p) > 0.01


def test_crop_geometry_puts_the_square_in_the_middle():
    img = np.zeros((200, 300, 3), np.uint8)
    cv2.circle(img, (150, 80), 3, (255, 255, 255), -1)  # pixel centre (150.5, 80.5) in continuous coordinates
    sq = square_from_points(np.array([[110.0, 40.0], [190.0, 120.0]]), margin=1.25)
    assert np.allclose(sq, [150.0, 80.0, 100.0])
    out = crop(img, np.array([150.5, 80.5, 100.0]), 50)
    assert out.shape == (50, 50, 3)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.mean() + 0.5 - 25) < 0.6 and abs(ys.mean() + 0.5 - 25) < 0.6
    # outside the image: black
    assert crop(img, np.array([-500.0, -500.0, 50.0]), 16).max() == 0


VIEWS = (0.0, 1.6, 3.3)


def _toy_samples(instants: int, subjects: int = 2, size: int = 48, seed: int = 0):
    """Stick figures drawn from several yaw angles: same instant = same pose in every view."""
    colours = [tuple(int(c) for c in (np.array(cv2.applyColorMap(np.uint8([[j * 15]]), cv2.COLORMAP_JET))[0, 0]))
               for j in range(17)]
    for s in range(subjects):
        for t in range(instants):
            pose = _pose(seed + 1000 * s + t)
            for v, yaw in enumerate(VIEWS):
                cam = _yaw(pose - pose[0], yaw)
                uv = np.stack([cam[:, 0], -cam[:, 1]], -1) * 60 + np.array([60.0, 60.0])
                img = np.full((120, 120, 3), 40 * (s + 1), np.uint8)
                for a, b in H36M.edges:
                    cv2.line(img, tuple(int(x) for x in uv[a]), tuple(int(x) for x in uv[b]), colours[b], 2)
                yield FrameSample(f"g{s}", f"s{s}", f"cam{v}", t, img, square_from_points(uv), pose, t / 10.0)


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("crops") / "toy"
    write_cache(_toy_samples(24), path, 48, "toy")
    return path


def test_cache_round_trip_and_a_truncated_cache_is_refused(toy_cache, tmp_path):
    c = load_cache(toy_cache)
    assert len(c) == 2 * 24 * 3 and c.crops.shape == (144, 48, 48, 3) and c.size == 48
    assert c.names("views") == ["cam0", "cam1", "cam2"] and c.names("subjects") == ["s0", "s1"]
    assert c.labelled.all() and np.allclose(c.pose[0], _pose(0), atol=1e-6)
    assert np.allclose(c.time[:3], 0.0) and c.time[3] == pytest.approx(0.1)
    assert c.crops[0].std() > 10  # a figure was drawn, not a blank crop
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(toy_cache, bad)
    with open(bad / "crops.u8", "r+b") as f:
        f.truncate(1000)
    from posecli.errors import InputError

    with pytest.raises(InputError, match="truncated"):
        load_cache(bad)
    with pytest.raises(InputError, match="already exists"):
        write_cache(_toy_samples(1), toy_cache, 48, "toy")


def test_pack_round_trip_keeps_order_and_labels(toy_cache, tmp_path):
    pack_cache(toy_cache, tmp_path / "packed")
    size = sum(f.stat().st_size for f in (tmp_path / "packed").iterdir())
    raw = (toy_cache / "crops.u8").stat().st_size
    assert size < raw / 5
    back = load_cache(unpack_cache(tmp_path / "packed", tmp_path / "unpacked"))
    a = load_cache(toy_cache)
    assert np.array_equal(back.pose, a.pose) and np.array_equal(back.view, a.view)
    assert np.abs(back.crops.astype(int) - a.crops.astype(int)).mean() < 8  # lossy, but the same pictures


def test_pairs_are_one_instant_in_two_views_and_keep_their_distance(toy_cache):
    c = load_cache(toy_cache)
    index = pair_index(c.group, c.subject, c.view, c.time)
    assert index.subjects == [0, 1] and len(index.rows[0]) == 24
    a, p = sample_pairs(np.random.default_rng(0), index, c.view, groups=2, pairs=6, gap=0.3)
    assert a.shape == (2, 6)
    assert (c.instant[a] == c.instant[p]).all() and (c.group[a] == c.group[p]).all()
    assert (c.view[a] != c.view[p]).all()
    for g in range(2):
        assert len(set(c.subject[a[g]])) == 1  # one subject per group: hard negatives share appearance
        t = np.sort(c.time[a[g]])
        assert (np.diff(t) >= 0.3 - 1e-9).all()


def test_supervision_levels(toy_cache):
    c = load_cache(toy_cache)
    assert supervision(c, 1.0, 1.0, 0).all()
    one = supervision(c, 0.5, 1.0, 0)
    assert set(c.subject[one]) == {0} and one.sum() == 72
    few = supervision(c, ["s1"], 0.25, 0)
    assert set(c.subject[few]) == {1} and few.sum() == 6 * 3  # 6 of 24 instants, all 3 views of each


def test_training_steps_decrease_both_losses(toy_cache):
    c = load_cache(toy_cache)
    cfg = McssTrainConfig(steps=60, groups=2, pairs=6, regression_batch=12, lr=2e-3, seed=0, model=TINY)
    model, history = train_mcss(c, cfg, log_every=10)
    first, last = history[0], history[-1]
    assert last["pose_loss"] < first["pose_loss"]
    assert last["metric_loss"] < first["metric_loss"]
    emb, pose = predict(model, c.crops)
    assert emb.shape == (len(c), 16) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    # not collapsed: other poses of the same subject stay apart (from scratch, beta's warm-up sees to it)
    one = (c.subject == 0) & (c.view == 0)
    d = np.linalg.norm(emb[one][:, None] - emb[one][None], axis=-1)
    assert d[~np.eye(len(d), dtype=bool)].mean() > 0.2
    assert pose.shape == (len(c), 16, 3) and np.isfinite(pose).all()


def test_network_shapes_and_the_baseline_has_no_metric_loss(toy_cache):
    for size in (64, 96, 224):
        phi, p = McssNet(McssConfig(width=8, input_size=size))(torch.rand(2, 3, size, size))
        assert phi.shape == (2, 128) and p.shape == (2, 16, 3)
        assert torch.allclose(phi.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in McssNet(TINY).modules())
    c = load_cache(toy_cache)
    _, history = train_mcss(c, McssTrainConfig(steps=3, baseline=True, regression_batch=4, model=TINY), log_every=1)
    assert all(h["metric_loss"] == 0.0 for h in history)


def test_eval_input_is_the_central_crop_and_training_input_varies():
    crops = torch.zeros(2, 112, 112, 3, dtype=torch.uint8)
    crops[:, 8:104, 8:104] = 255  # exactly the central 96 px
    x = to_input(crops, 96)
    assert x.shape == (2, 3, 96, 96) and x[:, :, 2:-2, 2:-2].min() > 0.99
    g = torch.Generator().manual_seed(0)
    y = to_input(crops, 96, g, train=True)
    assert not torch.allclose(y[0], y[1])


def test_retrieval_against_the_oracle():
    rng = np.random.default_rng(0)
    poses = np.stack([canonical(_pose(i)) for i in range(20)] * 2)  # 20 poses, two views
    view = np.repeat([0, 1], 20)
    subject = np.tile(np.repeat([0, 1], 10), 2)
    perfect = poses.reshape(40, -1)
    r = retrieval(perfect, poses, view, subject, np.arange(40), ks=(1, 5))
    assert r["embedding@1_mm"] == 0.0 and r["oracle@1_mm"] == 0.0 and r["above_oracle@5_mm"] == 0.0
    noisy = retrieval(rng.normal(size=(40, 8)), poses, view, subject, np.arange(40), ks=(1, 5))
    assert noisy["embedding@1_mm"] > 10 and noisy["oracle@1_mm"] == 0.0
    cross = retrieval(perfect, poses, view, subject, np.arange(40), cross=True, ks=(1, 5))
    assert cross["oracle@1_mm"] > 0  # the same pose is not in the database any more


def test_train_mcss_cli_writes_weights_and_card(toy_cache, tmp_path):
    from typer.testing import CliRunner

    from posecli.cli import app

    out = tmp_path / "m.safetensors"
    res = CliRunner().invoke(app, ["train", "mcss", "--data", f"cache:{toy_cache}", "--val", f"cache:{toy_cache}",
                                   "--steps", "2", "--width", "8", "--input-size", "32", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["model"] == "McssNet" and card["config"]["model"]["width"] == 8
    held = card["metrics"]["held_out"][f"cache:{toy_cache}"]
    assert held["frames"] == 144 and min(held["n_mpjpe_mm"], held["mpjpe_mm"], held["pa_mpjpe_mm"]) > 0



def test_bad_input_is_one_line(tmp_path, capsys):
    from posecli.cli import main
    from posecli.formats import write_poses
    from posecli.poses import Poses

    assert main(["train", "mcss", "--data", "nonsense", "-o", str(tmp_path / "x.safetensors")]) != 0
    err = capsys.readouterr().err.strip()
    assert "KIND:PATH" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    f = tmp_path / "p.npz"
    write_poses(Poses([], 30.0, 64, 64, 1, "x.mp4"), f)
    for command in ("estimate", "embed"):
        assert main([command, str(f), "--model", "mcss", "-o", str(tmp_path / "o.npz")]) != 0
        err = capsys.readouterr().err.strip()
        assert "give the video" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "o.npz").exists()


@pytest.fixture(scope="module")
def tiny_weights(toy_cache, tmp_path_factory):
    from posecli.train.weights import save_weights

    folder = tmp_path_factory.mktemp("weights")
    model, _ = train_mcss(load_cache(toy_cache), McssTrainConfig(steps=2, regression_batch=4, model=TINY))
    save_weights(model, folder / "mcss.safetensors", {"model": "McssNet", "config": {"model": TINY.to_dict()},
                                                      "crop_size": 48})
    return folder


def test_estimate_embed_and_retrieve_with_model_mcss(tiny_weights, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from posecli.cli import main
    from posecli.formats import read_poses

    video = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"
    monkeypatch.setenv("POSECLI_WEIGHTS", str(tiny_weights))
    est = tmp_path / "est.npz"
    assert main(["estimate", str(video), "--model", "mcss", "--end", "6", "--max-persons", "1", "-q", "-o", str(est)]) == 0
    t = read_poses(est).tracks[0]
    kp = t.keypoints["keypoints3d"].points
    ok = np.isfinite(kp).all((1, 2))
    assert ok.sum() >= 4
    h = joints.get("h36m17")
    assert np.allclose(kp[ok, h.index("pelvis")], 0, atol=1e-5)  # canonical: pelvis at the origin,
    assert np.allclose(kp[ok, h.index("left_hip"), 2], 0, atol=1e-4)  # left hip on the X axis (no z)
    assert (kp[ok, h.index("left_hip"), 0] > 0).all()
    capsys.readouterr()
    assert main(["render", str(video), str(est), "--side", "--frame", "2", "-o", str(tmp_path / "s.png")]) != 0
    assert "canonical" in capsys.readouterr().err and not (tmp_path / "s.png").exists()
    world = t.keypoints["keypoints3d_world"].points[ok]
    assert np.allclose(world[:, [h.index("left_ankle"), h.index("right_ankle")], 1].min(1), 0, atol=1e-5)
    emb = tmp_path / "emb.npz"
    assert main(["embed", str(video), "--model", "mcss", "--end", "6", "--max-persons", "1", "-q", "-o", str(emb)]) == 0
    e = read_poses(emb).tracks[0].arrays["embedding_mcss"]
    assert e.shape[1] == TINY.dim and np.allclose(np.linalg.norm(e[ok], axis=1), 1, atol=1e-3)
    capsys.readouterr()
    out = tmp_path / "m.json"
    assert main(["retrieve", str(emb), str(emb), "--model", "mcss", "--frame", "2", "-k", "2", "-q", "-o", str(out)]) == 0
    res = json.loads(out.read_text())
    assert len(res) == 1 and res[0]["query"]["frame"] == 2
    d = [m["distance"] for m in res[0]["matches"]]
    assert len(d) == 2 and d == sorted(d) and all(m["frame"] != 2 for m in res[0]["matches"])


def test_two_datasets_train_as_one(toy_cache, tmp_path):
    from posecli.train.mcss import concat

    write_cache(_toy_samples(3, subjects=1, seed=50), tmp_path / "more", 48, "more")
    a, b = load_cache(toy_cache), load_cache(tmp_path / "more")
    c = concat([a, b])
    assert len(c) == len(a) + len(b) == 144 + 9
    assert c.names("views") == ["cam0", "cam1", "cam2"] and c.names("subjects") == ["s0", "s1", "s0"]
    assert c.subject[-1] == 2 and c.group[-1] == 2  # the second dataset's subject stays its own
    assert np.array_equal(c.crops[-1], b.crops[-1]) and np.allclose(c.pose[-1], b.pose[-1])


def test_train_mcss_from_a_baseline_run(toy_cache, tmp_path, capsys):
    """Stage 1 (pose loss only), then MCSS from those weights; the card names its starting point."""
    from posecli.cli import main

    common = ["--data", f"cache:{toy_cache}", "--steps", "2", "--width", "8", "--input-size", "32", "-q"]
    base = tmp_path / "base.safetensors"
    assert main(["train", "mcss", *common, "--baseline", "-o", str(base)]) == 0
    out = tmp_path / "mcss.safetensors"
    assert main(["train", "mcss", *common, "--init", str(base), "-o", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["init"]["sha256"] == json.loads(base.with_suffix(".json").read_text())["sha256"]
    capsys.readouterr()
    bad = ["train", "mcss", "--data", f"cache:{toy_cache}", "--width", "16", "--input-size", "32", "--init", str(base),
           "-o", str(tmp_path / "x.safetensors")]
    assert main(bad) != 0
    err = capsys.readouterr().err
    assert "--width 8" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_multiview_takes_give_unlabelled_synchronised_crops(tmp_path):
    """A user's own synchronised cameras (Pose2Sim layout: TAKE/videos/camNN.mp4): tracked, cropped, paired by
    frame index, no 3D labels."""
    import shutil
    from pathlib import Path

    from posecli.images.sources import build_cache, takes

    video = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"
    folder = tmp_path / "lab" / "trial1" / "videos"
    folder.mkdir(parents=True)
    for cam in ("cam01", "cam02"):
        shutil.copy(video, folder / f"{cam}.mp4")
    (tmp_path / "lab" / "notes").mkdir()  # a folder without videos is not a take
    assert [(n, [p.name for p in v]) for n, v in takes(tmp_path / "lab")] == [("trial1", ["cam01.mp4", "cam02.mp4"])]
    c = load_cache(build_cache(f"multiview:{tmp_path / 'lab'}", tmp_path / "crops", 32, every=10))
    assert len(c) >= 10 and not c.labelled.any()
    assert c.names("views") == ["cam01", "cam02"] and c.names("subjects") == ["trial1"]
    index = pair_index(c.group, c.subject, c.view, c.time)
    assert len(index.rows[0]) >= 5  # the same frames cropped in both cameras
    assert (c.instant % 10 == 0).all()
