"""Pr-VIPE (seed 003): normalisation, NP-MPJPE, matching probability, mining, a few training steps via the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from posecli.cli import main
from posecli.embed import embed_poses, hit_at_k, model_input, normalize_2d, normalize_3d, np_mpjpe, top_k
from posecli.embed.normalize import INPUT_INDEX, np_mpjpe_matrix
from posecli.mocap.dataset import MocapDataset
from posecli.models.prvipe import PrVIPE, VipeConfig
from helpers import H36M_REST, synthetic_sequence
from posecli.train.vipe import (PairSampler, VipeTrainConfig, evaluate_retrieval, evaluate_retrieval_baselines,
                                mine_negatives, retrieval_views, train_vipe)

def synthetic_dataset(seed: int = 0) -> MocapDataset:
    rng = np.random.default_rng(seed)
    return MocapDataset([synthetic_sequence(rng, s, f"{s}_{i}") for s in ("101", "102") for i in (1, 2)])


def coco_pose(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 500, (17, 2))
    return pts, np.ones(17)


# ------------------------------------------------------------------------------------------------ normalisation

def test_normalize_2d_invariant_to_translation_and_scale_and_half_torso():
    pts, conf = coco_pose()
    a, seen = normalize_2d(pts, conf)
    b, _ = normalize_2d(pts * 3.7 + np.array([120.0, -40.0]), conf)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.shape == (13, 2) and seen.all()
    torso = a[[1, 2, 7, 8]]  # left/right shoulder, left/right hip in the 13-joint order
    d = np.linalg.norm(torso[:, None] - torso[None], axis=-1)
    assert d.max() == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose((a[7] + a[8]) / 2, 0, atol=1e-6)  # hip midpoint at the origin


def test_missing_joint_zero_filled_and_flagged():
    pts, conf = coco_pose(1)
    pts[9] = np.nan  # left wrist
    conf[10] = 0  # right wrist
    x = model_input(pts, conf)
    assert x.shape == (39,) and np.isfinite(x).all()
    xy, flags = x[:26].reshape(13, 2), x[26:]
    wrists = [list(INPUT_INDEX).index(9), list(INPUT_INDEX).index(10)]
    assert (xy[wrists] == 0).all() and (flags[wrists] == 0).all() and flags.sum() == 11


def test_normalize_3d_root_and_unit_spine_path():
    p = normalize_3d(H36M_REST * 2.3 + 5)
    np.testing.assert_allclose(p[0], 0, atol=1e-9)
    assert np.linalg.norm(p[7] - p[0]) + np.linalg.norm(p[8] - p[7]) == pytest.approx(1.0)


def test_np_mpjpe_similarity_invariant_and_known_value():
    rot = Rotation.from_euler("xyz", [30, -50, 80], degrees=True).as_matrix()
    moved = 0.4 * H36M_REST @ rot.T + np.array([3.0, -1.0, 2.0])
    assert np_mpjpe(H36M_REST[None], moved[None])[0] == pytest.approx(0.0, abs=1e-6)
    # One joint of the normalised pose moved by e: by hand with scipy's orthogonal Procrustes (rotation R and
    # the sum of singular values, whence the scale), and bounded by the unaligned error e / 17.
    y = normalize_3d(H36M_REST)
    z = y.copy()
    z[13] += np.array([0.0, 0.0, 0.17])  # the left wrist, 0.17 normalised units along z
    zc, yc = z - z.mean(0), y - y.mean(0)
    rot_zy, singular_sum = orthogonal_procrustes(zc, yc)
    aligned = singular_sum / (zc ** 2).sum() * zc @ rot_zy + y.mean(0)
    expected = np.linalg.norm(aligned - y, axis=-1).mean()
    err = np_mpjpe(z[None], y[None])[0]
    assert err == pytest.approx(expected, rel=1e-9) and 0 < err < 0.17 / np.sqrt(17)
    m = np_mpjpe_matrix(np.stack([y, z, moved]), np.stack([y, z]))
    assert m.shape == (3, 2) and m[0, 0] == pytest.approx(0, abs=1e-6) and m[2, 0] == pytest.approx(0, abs=1e-6)


# ------------------------------------------------------------------------------------------------------- model

def test_matching_probability_symmetric_bounded_and_seeded():
    torch.manual_seed(0)
    model = PrVIPE(VipeConfig(width=64)).eval()
    pts = np.stack([coco_pose(s)[0] for s in range(6)])
    e1 = embed_poses(model, pts, np.ones((6, 17)), seed=3)
    e2 = embed_poses(model, pts, np.ones((6, 17)), seed=3)
    assert e1["mu"].shape == (6, 16) and e1["samples"].shape == (6, 20, 16) and (e1["sigma"] > 0).all()
    np.testing.assert_array_equal(e1["samples"], e2["samples"])
    z = torch.as_tensor(e1["samples"])
    p = model.match_prob_matrix(z, z)
    assert p.shape == (6, 6) and torch.allclose(p, p.T, atol=1e-6)
    assert (p >= 0.05).all() and (p <= 0.95).all()
    paired = model.match_prob(z, z.roll(1, 0))
    assert torch.allclose(paired, p[torch.arange(6), torch.arange(6).roll(1)], atol=1e-6)
    huge = model.kernel(torch.tensor([0.0, 1e6])).detach()
    assert float(huge[1]) == pytest.approx(0.05) and float(huge[0]) <= 0.95


# ------------------------------------------------------------------------------------------------------ mining

def test_semi_hard_mining_known_distances():
    d_ap = np.array([1.0, 1.0, 5.0])
    d_an = np.array([[0.0, 0.5, 1.2, 2.0, 1.1],   # 1.1 matches the anchor's pose; next semi-hard is 1.2
                     [0.0, 0.3, 0.6, 0.9, 0.95],  # nothing above 1.0: fallback = closest non-matching (0.3)
                     [0.0, 1.0, 2.0, 3.0, 4.0]])  # all candidates match: none
    match = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)  # column 0: the positive itself

    def is_match(r, c):
        return match[r, c]

    np.testing.assert_array_equal(mine_negatives(d_ap, d_an, is_match, first=1), [2, 1, -1])
    np.testing.assert_array_equal(mine_negatives(d_ap, d_an, is_match, fallback="skip"), [2, -1, -1])


def test_pair_sampler_shapes():
    b = PairSampler(synthetic_dataset(), seed=0).sample(8)
    assert b["anchor"].shape == (8, 39) and b["positive"].shape == (8, 39) and b["poses3d"].shape == (8, 17, 3)
    assert not np.allclose(b["anchor"], b["positive"])  # two different cameras


# ------------------------------------------------------------------------------------------------ end to end

@pytest.mark.parametrize("dropout", [0.0, 0.3, 1.0])
def test_keypoint_dropout_is_applied_at_the_rate_asked(dropout):
    """A ``dropout`` share of inputs loses keypoints, each with probability U(0.05, 0.3) (mean 0.175); the others
    keep all 13 (exact projections: no detector-like drops, noisy=0)."""
    from posecli.train.vipe import DROP_RANGE

    b = PairSampler(synthetic_dataset(), seed=1, noisy=0.0, dropout=dropout).sample(4000)
    seen = np.concatenate([b["anchor"], b["positive"]])[:, 26:]  # the 13 visibility flags
    hit = (seen < 1).any(1)
    lost = 1 - seen[hit].mean() if hit.any() else 0.0
    # an input drawn for dropout can lose nothing by chance: (1 - p)^13, about 13 % on average over the range
    keep_all = np.mean([(1 - p) ** 13 for p in np.linspace(*DROP_RANGE, 1001)])
    assert hit.mean() == pytest.approx(dropout * (1 - keep_all), abs=0.02)
    if dropout:
        assert lost == pytest.approx(np.mean(DROP_RANGE) / (1 - keep_all), rel=0.1)


def test_train_few_steps_and_evaluate():
    data = synthetic_dataset()
    train, val = data.split(["102"])
    cfg = VipeTrainConfig(steps=2, batch=16, model=VipeConfig(width=64))
    logs = []
    model = train_vipe(train, cfg, on_step=lambda s, l: logs.append(l))
    assert len(logs) == 2 and all(np.isfinite(v) for v in logs[-1].values()) and logs[-1]["mined"] > 0
    for clean in (False, True):
        res = evaluate_retrieval(model, val, cameras=3, clean=clean, seed=0)
        assert res["camera_pairs"] == 6 and res["frames"] > 0
        assert all(0 <= res[k] <= 1 for k in ("hit@1", "hit@10", "hit@20")) and res["hit@1"] <= res["hit@20"]
    mean = evaluate_retrieval(model, val, cameras=2, scoring="mean")
    assert 0 <= mean["hit@1"] <= 1
    # An oracle "lifter" (the true 3D, handed out in the documented call order: per camera, per sequence)
    # must retrieve the query's own frame first.
    views = retrieval_views(val, cameras=2, clean=True)
    truth = iter([views.poses3d[views.sequence == s] for s in np.unique(views.sequence)] * 2)
    base = evaluate_retrieval_baselines(val, lift=lambda p, c: next(truth), cameras=2, clean=True)
    assert base["3d_lifting"]["hit@1"] == 1.0
    assert 0 <= base["2d_keypoints"]["hit@1"] <= 1


def test_retrieval_helpers():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.1, 0.0]])
    np.testing.assert_array_equal(top_k(scores, 2), [[1, 3], [0, 1]])
    np.testing.assert_array_equal(top_k(scores, 2, largest=False), [[0, 2], [3, 2]])
    acc = np.array([[False, True], [False, False]])
    assert hit_at_k(acc, (1, 2)) == {"hit@1": 0.0, "hit@2": 0.5}


def test_cross_view_hits_split_by_query_frames():
    from posecli.train.vipe import RetrievalViews, cross_view_hits

    rng = np.random.default_rng(0)
    poses = normalize_3d(rng.normal(size=(6, 17, 3)))  # six clearly different poses
    views = RetrievalViews(np.zeros((2, 6, 17, 2)), np.ones((2, 6, 17)), poses, np.zeros(6, np.int64))

    def ranker(a: int, b: int, k: int) -> np.ndarray:  # right for the first 4 queries, wrong for the last 2
        first = np.array([0, 1, 2, 3, 3, 1])  # query 4's second answer is 4, query 5's (2) is wrong
        return np.stack([first, *[(first + s) % 6 for s in range(1, 6)]], 1)[:, :k]

    res = cross_view_hits(views, ranker, ks=(1, 2), parts={"start": np.arange(6) < 4, "end": np.arange(6) >= 4})
    assert res["hit@1"] == pytest.approx(4 / 6) and res["hit@1 start"] == 1.0 and res["hit@1 end"] == 0.0
    assert res["hit@2"] == pytest.approx(5 / 6)


def test_cli_train_vipe_writes_weights_and_card(tmp_path, capsys):
    npz = tmp_path / "m.npz"
    synthetic_dataset().save(npz)
    w = tmp_path / "vipe.safetensors"
    code = main(["train", "vipe", "--data", f"cmu:{npz}", "--val-subjects", "102", "--steps", "2", "--batch", "8",
                 "--cameras", "2", "-o", str(w), "-q"])
    assert code == 0, capsys.readouterr().err
    card = json.loads(w.with_suffix(".json").read_text())
    assert card["model"] == "PrVIPE" and card["split"]["val_subjects"] == ["102"]
    for key in ("held_out_detector_like_2d", "held_out_exact_2d"):
        assert 0 <= card["metrics"][key]["hit@1"] <= card["metrics"][key]["hit@20"] <= 1
    from posecli.train.weights import load_weights
    model = PrVIPE(VipeConfig(**card["config"]["model"]))
    load_weights(model, w)


def test_cli_train_vipe_development_split_leaves_the_excluded_subject_out(tmp_path, capsys):
    rng = np.random.default_rng(3)
    npz = tmp_path / "m.npz"
    MocapDataset([synthetic_sequence(rng, s, f"{s}_1") for s in ("101", "102", "103")]).save(npz)
    w = tmp_path / "dev.safetensors"
    code = main(["train", "vipe", "--data", f"cmu:{npz}", "--val-subjects", "102", "--exclude-subjects", "103",
                 "--steps", "2", "--batch", "8", "--cameras", "2", "-o", str(w), "-q"])
    assert code == 0, capsys.readouterr().err
    split = json.loads(w.with_suffix(".json").read_text())["split"]
    assert split["train_subjects"] == ["101"] and split["val_subjects"] == ["102"]
    assert split["excluded_subjects"] == ["103"]
    # a subject that is not in the data: one line naming the subjects there, nothing written
    code = main(["train", "vipe", "--data", f"cmu:{npz}", "--val-subjects", "102", "--exclude-subjects", "999",
                 "--steps", "2", "-o", str(tmp_path / "never.safetensors")])
    err = capsys.readouterr().err
    assert code == 1 and "999" in err and "101" in err and "Traceback" not in err
    assert not (tmp_path / "never.safetensors").exists()


# ------------------------------------------------------------------------------------------------ temporal Pr-VIPE

def test_window_indices_by_time_clamped_at_the_ends():
    from posecli.embed.normalize import window_indices

    t60 = np.arange(10) / 60.0  # a 60 fps clip, windows of 5 frames at 30 fps: every second frame
    idx = window_indices(t60, 5, 30.0)
    np.testing.assert_array_equal(idx[4], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(idx[0], [0, 0, 0, 2, 4])  # before the start: the first frame repeats
    np.testing.assert_array_equal(idx[9], [5, 7, 9, 9, 9])
    gaps = np.array([0.0, 1 / 30, 2 / 30, 1.0, 1 + 1 / 30])  # a second missing in the middle
    # nearest in time, not in order: across the gap the frame itself is nearer than the one before it
    np.testing.assert_array_equal(window_indices(gaps, 3, 30.0)[3], [3, 3, 4])
    np.testing.assert_array_equal(window_indices(gaps, 3, 30.0)[1], [0, 1, 2])
    assert window_indices(np.zeros(0), 3, 30.0).shape == (0, 3)


def test_window_sampler_moves_with_the_sequence_and_stops_at_its_ends():
    data = synthetic_dataset()
    sampler = PairSampler(data, seed=0, noisy=0.0, mirror=False, window=5)
    b = sampler.sample(64)
    assert b["anchor"].shape == (64, 5 * 39) and b["poses3d"].shape == (64, 17, 3)
    frames = b["anchor"].reshape(64, 5, 39)
    assert (frames[:, :, 26:] == 1).all()  # exact projections: every keypoint seen in every frame
    # swinging limbs: the window's frames differ, most from the centre at the ends
    step = np.abs(frames[:, 1:, :26] - frames[:, :-1, :26]).mean((0, 2))
    assert step.min() > 0
    # the centre frame's pose is the label: a window drawn at a sequence's first frame repeats it twice before
    idx = np.array([0, len(data.sequences[0]) - 1])
    h36m, _ = sampler._frames(idx)
    np.testing.assert_array_equal(h36m[0, 0], h36m[0, 2])
    np.testing.assert_array_equal(h36m[0, 1], h36m[0, 2])
    np.testing.assert_array_equal(h36m[1, 3], h36m[1, 2])
    np.testing.assert_allclose(h36m[:, 2, 0], 0, atol=1e-9)  # centred on the centre frame's root
    assert np.abs(h36m[0, 3] - h36m[0, 2]).max() > 0.01  # the next frames of the sequence: the limbs moved
    # windows are picked by time: mocap at 60 fps gives every second frame for the model's 30 fps
    fast = MocapDataset([type(s)(s.subject, s.name, 60.0, s.joints, s.attrs) for s in data.sequences])
    np.testing.assert_array_equal(PairSampler(fast, window=5).span[10], [6, 8, 10, 12, 14])


def test_temporal_model_trains_embeds_by_time_and_evaluates():
    from posecli.embed.pipeline import embed_track
    from posecli.poses import KEYPOINTS_2D, Keypoints, Track

    data = synthetic_dataset()
    train, val = data.split(["102"])
    cfg = VipeTrainConfig(steps=2, batch=16, model=VipeConfig(width=64, window=3))
    model = train_vipe(train, cfg)
    res = evaluate_retrieval(model, val, cameras=2, clean=False, seed=0)
    assert res["camera_pairs"] == 2 and 0 <= res["hit@1"] <= res["hit@20"] <= 1
    single = train_vipe(train, VipeTrainConfig(steps=2, batch=16, model=VipeConfig(width=64)))
    assert evaluate_retrieval(single, val, cameras=2, window=3)["frames"] == res["frames"]  # same views
    # views made for a larger window hold the model's window in their middle: the same inputs, the same result
    from posecli.train.vipe import retrieval_views, view_inputs
    v3, v5 = (retrieval_views(val, 2, seed=0, window=w) for w in (3, 5))
    np.testing.assert_array_equal(view_inputs(model, v5, 1), view_inputs(model, v3, 1))
    assert evaluate_retrieval(model, val, cameras=2, seed=0, window=5) == res
    with pytest.raises(ValueError, match="window=3"):
        view_inputs(model, retrieval_views(val, 2, seed=0, window=1), 0)
    # A 60 fps track and the same track at 30 fps (every other frame): at the frames they share, the model sees
    # the same windows (picked by time), so the embeddings agree.
    rng = np.random.default_rng(0)
    pts = rng.uniform(100, 400, (40, 17, 2)).cumsum(0) / 10
    full = Track(1, np.arange(40), np.arange(40) / 60.0, {KEYPOINTS_2D: Keypoints("coco17", pts, np.ones((40, 17)))})
    half = full.subset(np.arange(40) % 2 == 0)
    a, b = embed_track(model, full), embed_track(model, half)
    np.testing.assert_allclose(a["mu"][4:-4:2], b["mu"][2:-2], atol=1e-5)
    assert not np.allclose(a["mu"][4], a["mu"][5])


def test_cli_train_vipe_refuses_an_even_window(capsys):
    code = main(["train", "vipe", "--window", "4", "-o", "/tmp/never.safetensors"])
    err = capsys.readouterr().err
    assert code == 1 and "--window 4 is even" in err and len(err.strip().splitlines()) == 1


def test_retrieval_views_can_take_the_2d_as_track_hands_it_on(monkeypatch):
    """``sides=True``: each camera's clip goes through track's left/right pass after the noise, so the detector
    model's whole-body swap runs are undone, and nothing else about the views changes."""
    import functools

    import posecli.train.vipe as vipe_mod
    from posecli import joints
    from posecli.synth2d import realistic_2d

    rng = np.random.default_rng(3)
    data = MocapDataset([synthetic_sequence(rng, "101", f"101_{i}", n=150) for i in (1, 2)])
    # many swap runs, so that every clip has some (the default rate gives ~2.5 % of frames)
    monkeypatch.setattr(vipe_mod, "realistic_2d", functools.partial(realistic_2d, swap_rate=0.03))
    clean = retrieval_views(data, 3, clean=True, seed=5, window=5)
    plain, fixed = (retrieval_views(data, 3, clean=False, seed=5, window=5, sides=s) for s in (False, True))
    flip = joints.get("coco17").flip_permutation
    body = [5, 6, 7, 8, 9, 10, 11, 12]  # shoulders, elbows, wrists, hips

    def swapped_frames(views):
        truth, _, _ = clean.clips[0]  # the first sequence: the same cameras in every call (drawn before any noise)
        pts, _, _ = views.clips[0]
        near = np.nanmean(np.linalg.norm(pts[..., body, :] - truth[..., body, :], axis=-1), -1)
        far = np.nanmean(np.linalg.norm(pts[..., body, :] - truth[..., flip, :][..., body, :], axis=-1), -1)
        return int((far < near).sum())

    before, after = swapped_frames(plain), swapped_frames(fixed)
    assert before >= 20 and after <= before // 4
    # the pass only relabels: every frame is the same 2D or its left/right mirror, confidences moved alike
    a, ca, _ = plain.clips[0]
    b, cb, _ = fixed.clips[0]
    same = np.isclose(a, b, equal_nan=True).all((-1, -2))
    mirrored = np.isclose(a[..., flip, :], b, equal_nan=True).all((-1, -2))
    assert (same | mirrored).mean() > 0.95  # (a legs-only relabel is neither, and rare)
    np.testing.assert_allclose(np.sort(ca, -1), np.sort(cb, -1))
    assert np.isfinite(fixed.windows).sum() == np.isfinite(plain.windows).sum()
    with pytest.raises(ValueError, match="whole clips"):
        retrieval_views(data, 3, window=1, sides=True)
    # the evaluations hand the choice on to the views they score
    asked = []
    monkeypatch.setattr(vipe_mod, "retrieval_views", lambda *a, sides=False, **k: asked.append(sides) or plain)
    model = PrVIPE(VipeConfig(width=32, window=5))
    vipe_mod.evaluate_retrieval(model, data, cameras=3, sides=True)
    vipe_mod.evaluate_retrieval_baselines(data, cameras=3, window=5, sides=True)
    assert asked == [True, True]
