"""``embed`` / ``retrieve`` / ``align``: mirroring, atrous smoothing, alignment of known warps, the CLI round trips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import posed_motion
from posecli import joints
from posecli.align.sequences import align_tracks, atrous_smooth, fill_from_nearest, kendall_tau
from posecli.cli import main
from posecli.embed import model_input
from posecli.embed.matching import match_matrix
from posecli.embed.normalize import mirror_input
from posecli.embed.pipeline import embed_track
from posecli.formats import read_poses, write_poses
from posecli.models.prvipe import PrVIPE, VipeConfig
from posecli.poses import KEYPOINTS_2D, Keypoints, Poses, Track
from posecli.weights_registry import weight_path

W, H = 640, 480


def project(coco3d: np.ndarray, yaw: float = 30.0) -> np.ndarray:
    """World (T, 17, 3) metres, Y up -> (T, 17, 2) pixels of a camera 4 m away turned by ``yaw`` degrees."""
    from scipy.spatial.transform import Rotation

    c = np.nanmean(coco3d.reshape(-1, 3), 0)
    p = (coco3d - c) @ Rotation.from_euler("y", yaw, degrees=True).as_matrix().T + np.array([0, 0, 4.0])
    return np.stack([500 * p[..., 0] / p[..., 2] + W / 2, -500 * p[..., 1] / p[..., 2] + H / 2], -1)


def mirrored(points: np.ndarray) -> np.ndarray:
    """What a mirrored video shows: x flipped, and the detector calls the person's left 'left' again."""
    out = points[:, joints.COCO17.flip_permutation].copy()
    out[..., 0] = W - out[..., 0]
    return out


def pose_file(path, points: np.ndarray, fps: float = 30.0, track_id: int = 1):
    conf = np.where(np.isfinite(points).all(-1), 0.9, 0.0)
    t = Track(track_id, np.arange(len(points)), np.arange(len(points)) / fps,
              {KEYPOINTS_2D: Keypoints("coco17", points, conf)})
    poses = Poses([t], fps, W, H, len(points), source=str(path.with_suffix(".mp4")))
    write_poses(poses, path)
    return poses


@pytest.fixture(scope="module")
def motion() -> np.ndarray:
    return posed_motion(60)


@pytest.fixture(scope="module")
def tiny_model() -> PrVIPE:
    torch.manual_seed(0)
    return PrVIPE(VipeConfig(width=64)).eval()


def as_track(points: np.ndarray) -> Track:
    conf = np.ones(points.shape[:2])
    return Track(1, np.arange(len(points)), np.arange(len(points)) / 30.0, {KEYPOINTS_2D: Keypoints("coco17", points, conf)})


# ----------------------------------------------------------------------------------------------- pieces

def test_mirror_input_is_an_involution_and_fixes_symmetric_poses(motion):
    x = model_input(project(motion), np.ones(motion.shape[:2]))
    np.testing.assert_allclose(mirror_input(mirror_input(x)), x, atol=1e-6)
    assert np.abs(mirror_input(x) - x).max() > 0.1
    # the model input of a mirrored image is the mirror of the model input
    np.testing.assert_allclose(model_input(mirrored(project(motion)), np.ones(motion.shape[:2])), mirror_input(x),
                               atol=1e-5)


def test_atrous_smoothing_against_a_direct_sum():
    rng = np.random.default_rng(0)
    cost = rng.uniform(size=(23, 17))
    out = atrous_smooth(cost, 7, 3)
    for i, j in [(0, 0), (5, 11), (22, 16), (10, 3), (12, 12)]:
        terms = [cost[i + 3 * t, j + 3 * t] for t in range(-3, 4) if 0 <= i + 3 * t < 23 and 0 <= j + 3 * t < 17]
        assert out[i, j] == pytest.approx(np.mean(terms), rel=1e-6)
    np.testing.assert_allclose(atrous_smooth(cost, 1, 3), cost, rtol=1e-6)
    with pytest.raises(Exception):
        atrous_smooth(cost, 6, 3)


def test_fill_from_nearest_and_kendall_tau():
    v = np.arange(6.0)[:, None]
    out = fill_from_nearest(v, np.array([False, True, False, False, True, False]))
    np.testing.assert_array_equal(out[:, 0], [1, 1, 1, 4, 4, 4])  # frame 2: 1 and 4 are 1 and 2 away
    assert kendall_tau(np.arange(10)) == pytest.approx(1.0) and kendall_tau(np.arange(10)[::-1]) == pytest.approx(-1.0)
    # ties (a held B frame) count as neither concordant nor discordant (tau-b)
    assert 0.9 < kendall_tau(np.array([0, 1, 1, 2, 3, 4, 5, 6, 7, 8])) < 1.0


def test_matching_probabilities_symmetric_in_range_and_invalid_rows_nan(tiny_model, motion):
    e = embed_track(tiny_model, as_track(project(motion)))
    p = match_matrix(tiny_model, e, e, scoring="mean")
    np.testing.assert_allclose(p, p.T, atol=1e-6)
    assert (p >= 0.05).all() and (p <= 0.95).all()
    ps = match_matrix(tiny_model, e, e, scoring="sampled", seed=4)
    assert ((ps >= 0.05) & (ps <= 0.95)).all()
    np.testing.assert_array_equal(ps, match_matrix(tiny_model, e, e, scoring="sampled", seed=4))  # seeded
    pts = project(motion)
    pts[7, 3:] = np.nan  # frame 7: only 3 COCO points left -> invalid
    t = as_track(pts)
    t.keypoints[KEYPOINTS_2D].confidence[7, 3:] = 0
    e2 = embed_track(tiny_model, t)
    assert not e2["valid"][7] and e2["valid"].sum() == 59
    assert np.isnan(match_matrix(tiny_model, e2, e, scoring="mean")[7]).all()


def test_align_recovers_a_frame_repeating_warp_exactly(tiny_model, motion):
    """B shows each pose of A twice (half speed): with point scoring identical poses have the lowest distance,
    so DTW without smoothing must pair B frames 2k and 2k+1 with A frame k."""
    pts = project(motion)
    a, b = as_track(pts), as_track(np.repeat(pts, 2, 0))
    res = align_tracks(tiny_model, a, b, size=1, chirality="none", scoring="mean")
    np.testing.assert_allclose(res.mapping(), 2 * np.arange(60) + 0.5)
    # every pair on the path is two identical poses: the distance is -log p at zero embedding distance
    assert res.distance == pytest.approx(-np.log(float(tiny_model.kernel(torch.zeros(())).detach())), rel=1e-4)


# ----------------------------------------------------------------------------------------------- shipped model

def shipped():
    return weight_path("vipe")


def stretched(points: np.ndarray, factor: float) -> np.ndarray:
    """The motion played ``factor`` times slower (linear interpolation between frames)."""
    t = np.arange(int((len(points) - 1) * factor) + 1) / factor
    flat = points.reshape(len(points), -1)
    return np.stack([np.interp(t, np.arange(len(points)), flat[:, k]) for k in range(flat.shape[1])], 1).reshape(
        len(t), *points.shape[1:])


def test_cli_align_time_stretched_copy(tmp_path, motion):
    """B = the same motion played 1.5x slower: the path must follow the warp and the files must be written."""
    a, b = project(motion, 20.0), stretched(project(motion, 20.0), 1.5)
    pose_file(tmp_path / "a.npz", a)
    pose_file(tmp_path / "b.npz", b)
    out, plot = tmp_path / "align.json", tmp_path / "align.png"
    assert main(["align", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "-o", str(out), "--plot", str(plot),
                 "-q"]) == 0
    r = json.loads(out.read_text())
    fb = np.array([m["frame_b"] for m in r["b_for_a"]])
    assert len(fb) == 60 and np.abs(fb - 1.5 * np.arange(60)).mean() < 1.5  # measured 0.86 frames of B
    assert r["kendall_tau_path"] > 0.99 and not r["mirrored"]
    path = np.array(r["path"])
    assert (path[0] == [0, 0]).all() and (path[-1] == [59, len(b) - 1]).all() and (np.diff(path, axis=0) >= 0).all()
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_align_across_views_follows_the_warp(motion):
    """The same, with B filmed 70 degrees further round: the view changes the embedding a little (measured bias
    ~5 frames of B's 88, i.e. ~6 % of the motion: poses that close are within Pr-VIPE's matching tolerance), but
    the order must be right and the warp followed."""
    from posecli.embed.pipeline import load_vipe

    model, _ = load_vipe(shipped())
    res = align_tracks(model, as_track(project(motion, 20.0)), as_track(stretched(project(motion, 90.0), 1.5)))
    assert np.abs(res.mapping() - 1.5 * np.arange(60)).mean() < 8.0
    assert kendall_tau(res.mapping()) > 0.95 and not res.mirrored


def test_cli_align_detects_a_mirrored_performance(tmp_path, motion):
    a = project(motion, 10.0)
    pose_file(tmp_path / "a.npz", a)
    pose_file(tmp_path / "m.npz", mirrored(a))
    out = tmp_path / "m.json"
    assert main(["align", str(tmp_path / "a.npz"), str(tmp_path / "m.npz"), "-o", str(out), "-q"]) == 0
    r = json.loads(out.read_text())
    assert r["mirrored"] is True
    fb = np.array([m["frame_b"] for m in r["b_for_a"]])
    assert np.abs(fb - np.arange(60)).mean() < 1.0


def test_cli_embed_and_retrieve(tmp_path, motion, capsys):
    a, b = project(motion, 0.0), project(motion, 120.0)
    pose_file(tmp_path / "a.npz", a)
    pose_file(tmp_path / "b.npz", b)
    emb = tmp_path / "a_emb.npz"
    assert main(["embed", str(tmp_path / "a.npz"), "-o", str(emb), "--samples", "5", "-q"]) == 0
    t = read_poses(emb).tracks[0]
    assert t.arrays["embedding_mu"].shape == (60, 16) and t.arrays["embedding_samples"].shape == (60, 5, 16)
    assert (t.arrays["embedding_sigma"] > 0).all() and t.arrays["embedding_valid"].all()
    assert KEYPOINTS_2D in t.keypoints  # kept, so the file can be searched and aligned again
    # deterministic: the same file twice gives the same numbers
    emb2 = tmp_path / "again.npz"
    assert main(["embed", str(tmp_path / "a.npz"), "-o", str(emb2), "--samples", "5", "-q"]) == 0
    np.testing.assert_array_equal(read_poses(emb2).tracks[0].arrays["embedding_samples"], t.arrays["embedding_samples"])
    # Retrieval across views: frame 30 seen from 120 degrees away should find itself (or a neighbour) first.
    res = tmp_path / "r.json"
    assert main(["retrieve", str(emb), str(tmp_path / "b.npz"), "--frame", "30", "-k", "3", "-o", str(res), "-q"]) == 0
    r = json.loads(res.read_text())
    assert len(r) == 1 and r[0]["query"]["frame"] == 30 and [m["rank"] for m in r[0]["matches"]] == [1, 2, 3]
    probs = [m["prob"] for m in r[0]["matches"]]
    assert probs == sorted(probs, reverse=True) and all(0.05 <= p <= 0.95 for p in probs)
    # Over all frames, the best match lies near the query's own frame (measured mean 3.3 frames; chance ~20).
    allq = tmp_path / "all.json"
    assert main(["retrieve", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "-k", "1", "-o", str(allq), "-q"]) == 0
    err = [abs(q["matches"][0]["frame"] - q["query"]["frame"]) for q in json.loads(allq.read_text())]
    assert len(err) == 60 and np.mean(err) < 6
    # Searching a file against itself never returns the query frame itself.
    csv = tmp_path / "r.csv"
    assert main(["retrieve", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "-k", "2", "-o", str(csv), "-q"]) == 0
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    assert len(rows) == 120 and all(row[2] != row[6] for row in rows)
    # A table on stdout without -o.
    capsys.readouterr()
    assert main(["retrieve", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--frame", "3", "-k", "1"]) == 0
    assert "p(match)" in capsys.readouterr().out


def test_cli_temporal_model_embeds_and_retrieves_across_views(tmp_path, motion):
    """--model vipe-temporal (the default): the shipped temporal Pr-VIPE; each frame's embedding depends on its
    neighbours; --model vipe the single-frame one."""
    a, b = project(motion, 0.0), project(motion, 120.0)
    pose_file(tmp_path / "a.npz", a)
    pose_file(tmp_path / "b.npz", b)
    emb = tmp_path / "a_emb.npz"
    assert main(["embed", str(tmp_path / "a.npz"), "--model", "vipe-temporal", "-o", str(emb), "-q"]) == 0
    mu = read_poses(emb).tracks[0].arrays["embedding_mu"]
    single = tmp_path / "single.npz"
    assert main(["embed", str(tmp_path / "a.npz"), "--model", "vipe", "-o", str(single), "-q"]) == 0
    assert mu.shape == (60, 16) and np.isfinite(mu).all()
    default = tmp_path / "default.npz"
    assert main(["embed", str(tmp_path / "a.npz"), "-o", str(default), "-q"]) == 0
    assert read_poses(default).meta["model"] == "vipe_temporal.safetensors"
    np.testing.assert_array_equal(read_poses(default).tracks[0].arrays["embedding_mu"], mu)
    assert not np.allclose(mu, read_poses(single).tracks[0].arrays["embedding_mu"])  # another model
    res = tmp_path / "all.json"
    assert main(["retrieve", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--model", "vipe-temporal", "-k", "1",
                 "-o", str(res), "-q"]) == 0
    err = [abs(q["matches"][0]["frame"] - q["query"]["frame"]) for q in json.loads(res.read_text())]
    assert len(err) == 60 and np.mean(err) < 6  # as the single-frame model in test_cli_embed_and_retrieve


def test_cli_bad_inputs_one_line(tmp_path, motion, capsys):
    pose_file(tmp_path / "a.npz", project(motion))
    capsys.readouterr()
    for args in (["retrieve", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--frame", "999"],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "missing.npz")],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--kernel", "6"],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--video", str(tmp_path / "s.mp4")],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "-o", str(tmp_path / "j.json"),
                  "--plot", "/proc/x.png"],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "-o", str(tmp_path / "j.json"),
                  "--plot", str(tmp_path / "x.gif")],
                 ["align", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "-o", str(tmp_path / "j.json"),
                  "--video", str(tmp_path / "x.png")],
                 ["embed", str(tmp_path / "a.npz"), "-o", str(tmp_path / "no" / "dir" / "e.npz")]):
        code = main(args)
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and err.startswith("posecli: error:"), (args, err)
    assert not (tmp_path / "s.mp4").exists() and not (tmp_path / "j.json").exists()  # refused before any work


def test_cli_align_with_nobody_in_a_gives_an_empty_result_like_track(tmp_path, motion, capsys):
    from posecli.formats import write_poses
    from posecli.poses import Poses

    pose_file(tmp_path / "b.npz", project(motion))
    write_poses(Poses([], fps=30.0, width=64, height=48, num_frames=5), tmp_path / "empty.npz")
    capsys.readouterr()
    code = main(["align", str(tmp_path / "empty.npz"), str(tmp_path / "b.npz"), "-o", str(tmp_path / "j.json")])
    err = capsys.readouterr().err
    assert code == 0 and "nobody was found in" in err and "empty.npz" in err
    report = json.loads((tmp_path / "j.json").read_text())
    assert report["path"] == [] and report["b_for_a"] == [] and report["distance"] is None


@pytest.mark.parametrize("name", ["vipe", "vipe_temporal"])
def test_shipped_vipe_reproduces_its_card(shared_data, name):
    """The shipped weights (fp16) on the held-out subject give the card's exact-2D retrieval figures (the temporal
    model on its own views: whole sequences at 30 fps, windows of 17 frames)."""
    from posecli.embed.pipeline import load_vipe
    from posecli.mocap.sources import load_mocap
    from posecli.train.vipe import evaluate_retrieval

    model, card = load_vipe(weight_path(name))
    assert model.config.window == (17 if name == "vipe_temporal" else 1)
    _, val = load_mocap(f"cmu:{shared_data / 'mocap'}").split(card["split"]["val_subjects"])
    res = evaluate_retrieval(model, val, cameras=4, clean=True)
    expected = card["metrics"]["held_out_exact_2d"]
    assert res["frames"] == expected["frames"]
    for k in ("hit@1", "hit@10", "hit@20"):
        assert res[k] == pytest.approx(expected[k], abs=0.02), k


def test_cli_align_video_shows_b_retimed_to_a(tmp_path, motion):
    """--video: one output frame per frame of A, and the right half is B's frame that the alignment matched
    (the test videos are flat grays whose level encodes the frame number)."""
    from helpers import TOL, level, make_video

    from posecli.video import read_frames

    pts = project(motion[::5])  # 12 distinct poses
    make_video(tmp_path / "a.mp4", n=12)
    make_video(tmp_path / "b.mp4", n=24)
    pose_file(tmp_path / "a.npz", pts)
    pose_file(tmp_path / "b.npz", np.repeat(pts, 2, 0))  # B holds every pose twice
    out, side = tmp_path / "al.json", tmp_path / "side.mp4"
    assert main(["align", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "-o", str(out), "--video", str(side),
                 "--kernel", "1", "--scoring", "mean", "--chirality", "none", "-q"]) == 0
    matched = [round(m["frame_b"]) for m in json.loads(out.read_text())["b_for_a"]]
    frames = list(read_frames(side))
    assert len(frames) == 12
    for k, f in enumerate(frames):
        h, w = f.image.shape[:2]
        left, right = f.image[h // 2:, : w // 2], f.image[h // 2:, w // 2:]
        assert abs(float(np.median(left)) - level(k)) <= TOL
        assert abs(float(np.median(right)) - level(matched[k])) <= TOL, (k, matched[k])
    assert abs(np.array(matched) - (2 * np.arange(12) + 0.5)).max() <= 1


def test_cli_align_subsequence_finds_a_one_second_clip(tmp_path):
    """--subsequence: A = 1 s (30 frames) cut at frame 100 of a 6 s performance B, played 1.2x slower: B's matched
    span must be within 3 frames of the cut; whole-sequence alignment is pinned to B's first and last frames."""
    long = project(posed_motion(180), 20.0)
    clip = stretched(long[100:130], 1.2)
    pose_file(tmp_path / "clip.npz", clip)
    pose_file(tmp_path / "long.npz", long)
    out, plot = tmp_path / "sub.json", tmp_path / "sub.png"
    assert main(["align", str(tmp_path / "clip.npz"), str(tmp_path / "long.npz"), "--subsequence", "-o", str(out),
                 "--plot", str(plot), "-q"]) == 0
    r = json.loads(out.read_text())
    span = r["span"]
    assert r["subsequence"] is True and abs(span["first_frame_b"] - 100) <= 3 and abs(span["last_frame_b"] - 129) <= 3
    assert span["frames_b"] == span["last_frame_b"] - span["first_frame_b"] + 1
    assert span["first_time_b"] == pytest.approx(span["first_frame_b"] / 30, abs=1e-4)
    path = np.array(r["path"])
    assert path[0].tolist() == [0, span["first_frame_b"]] and path[-1].tolist() == [len(clip) - 1, span["last_frame_b"]]
    assert span["normalized_cost"] == pytest.approx(span["cost"] / len(path), rel=1e-3)
    assert span["normalized_cost"] == pytest.approx(r["distance"], abs=1e-5)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    whole = tmp_path / "whole.json"
    assert main(["align", str(tmp_path / "clip.npz"), str(tmp_path / "long.npz"), "-o", str(whole), "-q"]) == 0
    w = json.loads(whole.read_text())
    assert "span" not in w and w["path"][0] == [0, 0] and w["path"][-1] == [len(clip) - 1, 179]
    assert main(["align", str(tmp_path / "clip.npz"), str(tmp_path / "long.npz"), "--subsequence", "--band", "5",
                 "-q"]) == 1


def test_a_temporal_embedding_keeps_its_windows_within_one_shot():
    """`embed`'s default model sees a window of frames around each one; where `track` kept a person's ID across
    a shot cut, the frames beyond the cut are another camera's: the first shot is embedded as it would be alone."""
    from dataclasses import replace

    from posecli.embed.pipeline import MU, embed_file
    from posecli.poses import KEYPOINTS_2D, Keypoints, Poses, Track
    from posecli.weights_registry import weight_path

    coco = posed_motion(60)
    p = coco - np.nanmean(coco.reshape(-1, 3), 0) + np.array([0, 0, 4.0])
    uv = np.stack([900 * p[..., 0] / p[..., 2] + 640, -900 * p[..., 1] / p[..., 2] + 360], -1)
    uv[30:, :, 0] = 1280 - uv[30:, :, 0]  # the second shot: a camera on the other side
    track = Track(1, np.arange(60), np.arange(60) / 30.0,
                  {KEYPOINTS_2D: Keypoints("coco17", uv, np.full((60, 17), 0.9))})
    poses = Poses([track], 30.0, 1280, 720, 60, meta={"shot_cuts": [30]})
    weights = weight_path("vipe_temporal")
    both = embed_file(poses, weights).tracks[0].arrays[MU]
    first = embed_file(replace(poses, tracks=[track.subset(np.arange(30))], meta={}), weights).tracks[0].arrays[MU]
    whole = embed_file(replace(poses, meta={}), weights).tracks[0].arrays[MU]
    np.testing.assert_allclose(both[:30], first, atol=1e-5)
    assert not np.allclose(whole[25:30], first[25:30], atol=1e-3)  # the window reached across the cut
