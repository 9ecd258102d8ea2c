"""Training the lifter on ``posecli synth`` data: the detector's output matched to the rendered people, clips
normalised as ``estimate`` does, held-out subjects kept out, detection cached, and ``train estimate`` mixing
``synth:DIR`` with mocap. The datasets are made by hand (no rendering) so values are known exactly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import synthetic_sequence
from test_data_and_estimate_cli import mocap_folder, run

from posecli import joints
from posecli.formats import read_poses, write_poses
from posecli.lifting.normalize import normalize_2d
from posecli.poses import KEYPOINTS_2D, Keypoints, Poses, Track
from posecli.synth.dataset import KEYPOINTS_2D_H36M
from posecli.synth.detections import detect_dataset, detections_path, matched_detections
from posecli.train.clips import mirror
from posecli.train.synth_clips import SynthClipSampler, load_synth_people, make_clip
from posecli.video import VideoWriter, read_frames

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"
F = 500.0


def to_camera(world: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """World (Y up) -> camera (y down, z forward, 4 m away)."""
    return np.stack([world[..., 0] + shift, 1.0 - world[..., 1], world[..., 2] + 4.0], -1).astype(np.float32)


def project(cam: np.ndarray) -> np.ndarray:
    return (F * cam[..., :2] / cam[..., 2:] + [320, 240]).astype(np.float32)


def truth_track(tid: int, h36m_world: np.ndarray, shift: float) -> Track:
    coco_world, _ = joints.convert(h36m_world, np.ones(h36m_world.shape[:2]), "h36m17", "coco17")
    coco_world = np.where(np.isfinite(coco_world), coco_world, h36m_world[:, [10]])  # eyes/ears at the head
    h_cam, c_cam = to_camera(h36m_world, shift), to_camera(coco_world, shift)
    n = len(h36m_world)
    return Track(tid, np.arange(n), np.arange(n) / 30.0,
                 {KEYPOINTS_2D: Keypoints("coco17", project(c_cam), np.ones((n, 17), np.float32)),
                  KEYPOINTS_2D_H36M: Keypoints("h36m17", project(h_cam), np.ones((n, 17), np.float32))},
                 {"keypoints3d_all": h_cam})


def make_dataset(root: Path, n: int = 40, missed: tuple[int, ...] = (20,), calibrated: bool = True) -> dict:
    """One clip, one view, two people (subjects 'A' and 'HELD'), and a detections file: person 1 detected with
    2 px noise except on ``missed`` frames, person 2 detected throughout, plus a far-off false detection.
    ``calibrated``: the truth file carries the camera's rotation (world -> camera, as ``to_camera``)."""
    rng = np.random.default_rng(0)
    a = synthetic_sequence(rng, "A", "a", n).joints["h36m17"]
    b = synthetic_sequence(rng, "HELD", "b", n).joints["h36m17"]
    a, b = a - a[:1, :1] * [1, 0, 1], b - b[:1, :1] * [1, 0, 1]
    camera = {"R": np.diag([1.0, -1.0, 1.0])} if calibrated else {}
    truth = Poses([truth_track(1, a, -1.0), truth_track(2, b, 1.0)], 30.0, 640, 480, n, camera=camera)
    (root / "clip_0000").mkdir(parents=True)
    write_poses(truth, root / "clip_0000/cam_01.npz")
    dets = []
    for t in truth.tracks:
        pts = t.keypoints[KEYPOINTS_2D].points + rng.normal(0, 2, (n, 17, 2)).astype(np.float32)
        keep = np.ones(n, bool)
        if t.id == 1:
            keep[list(missed)] = False
        dets.append(Track(t.id, np.flatnonzero(keep), np.flatnonzero(keep) / 30.0,
                          {KEYPOINTS_2D: Keypoints("coco17", pts[keep], np.full((keep.sum(), 17), 0.9, np.float32))}))
    ghost = truth.tracks[0].keypoints[KEYPOINTS_2D].points + [300, 0]
    dets.append(Track(3, np.arange(n), np.arange(n) / 30.0,
                      {KEYPOINTS_2D: Keypoints("coco17", ghost.astype(np.float32), np.ones((n, 17), np.float32))}))
    write_poses(Poses(dets, 30.0, 640, 480, n), root / "clip_0000/cam_01.detections.npz")
    manifest = {"schema": "posecli.synth", "options": {"persons": 2, "frames": n},
                "clips": [{"name": "clip_0000", "people": [{"subject": "A"}, {"subject": "HELD"}],
                           "views": [{"name": "cam_01", "video": "clip_0000/cam_01.mp4",
                                      "poses": "clip_0000/cam_01.npz"}]}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return {"truth": truth}


def test_detections_are_matched_to_the_right_person(tmp_path):
    made = make_dataset(tmp_path, missed=(20, 21))
    truth = made["truth"]
    matched = matched_detections(truth, read_poses(tmp_path / "clip_0000/cam_01.detections.npz"))
    assert len(matched) == 2
    for t, (pts, conf) in zip(truth.tracks, matched):
        found = conf.sum(-1) > 0
        expect = np.ones(40, bool)
        if t.id == 1:
            expect[[20, 21]] = False
        assert np.array_equal(found, expect)  # the ghost 300 px away is never taken
        err = np.linalg.norm(pts[found] - t.keypoints[KEYPOINTS_2D].points[found], axis=-1)
        assert np.median(err) < 4.0
        assert np.isnan(pts[~found]).all()


def test_a_following_cameras_up_is_read_per_frame(tmp_path):
    """A following camera turns: each frame's up target comes from the track's own ``camera_R`` (world ->
    camera per frame), not from the file's first-frame ``camera``."""
    make_dataset(tmp_path)
    f = tmp_path / "clip_0000/cam_01.npz"
    truth = read_poses(f)
    tilt = np.linspace(0.0, 0.5, 40)  # the camera pitches down 0 -> 29 degrees while following
    c, s_ = np.cos(tilt), np.sin(tilt)
    about_x = np.stack([np.stack([np.ones(40), 0 * c, 0 * c], -1), np.stack([0 * c, c, -s_], -1),
                        np.stack([0 * c, s_, c], -1)], -2)
    R = np.diag([1.0, -1.0, 1.0]) @ about_x  # to_camera's axes, turned about x
    for t in truth.tracks:
        t.arrays["camera_R"] = R.astype(np.float32)
    write_poses(truth, f)
    people = load_synth_people(tmp_path, 10)
    np.testing.assert_allclose(people[1].up, R[:, :, 1], atol=1e-6)
    assert not np.allclose(people[1].up[0], people[1].up[-1])


def test_windows_skip_missed_frames_and_held_out_subjects(tmp_path):
    make_dataset(tmp_path, missed=(20,))
    people = load_synth_people(tmp_path, 10)
    assert len(people) == 2
    # person 1: windows of 10 inside frames 0-19 and 21-39 only
    assert np.array_equal(people[0].starts, np.r_[0:11, 21:31])
    assert np.array_equal(people[1].starts, np.arange(31))
    kept = load_synth_people(tmp_path, 10, exclude_subjects=["HELD"])
    assert len(kept) == 1 and np.array_equal(kept[0].joints3d, people[0].joints3d)
    with pytest.raises(Exception, match="consecutive"):
        SynthClipSampler([tmp_path], 41)


def test_clip_is_normalised_as_estimate_does_and_mirrors_consistently(tmp_path):
    make_dataset(tmp_path)
    p = load_synth_people(tmp_path, 8)[1]
    sl = slice(3, 11)
    clip = make_clip(p.detected[sl], p.confidence[sl], p.joints3d[sl], p.joints2d[sl])
    x, centre, scale = normalize_2d(p.detected[sl], p.confidence[sl])
    np.testing.assert_allclose(clip["x"], x)
    np.testing.assert_allclose(clip["joints"][:, 0], 0.0, atol=1e-6)  # root-relative
    # H36M shoulders are COCO shoulders: the target 2D and the input agree to the detector's 2 px noise
    h, c = joints.H36M17.index("left_shoulder"), joints.COCO17.index("left_shoulder")
    gap = np.abs(clip["joints2d"][:, h] - x[:, c, :2]) * scale[:, None]
    assert gap.max() < 10.0
    # and the 3D target projects onto the 2D target (weak perspective up to the root's depth)
    j3 = p.joints3d[sl]
    uv = F * j3[..., :2] / j3[..., 2:] + [320, 240]
    np.testing.assert_allclose(uv, p.joints2d[sl], atol=1e-3)
    # mirrored inputs give the mirrored clip: the pose seen in a mirror, left and right swapped
    flip_c = joints.COCO17.flip_permutation
    m = make_clip(mirror(p.detected[sl], "coco17"), p.confidence[sl][:, flip_c], mirror(j3, "h36m17"),
                  mirror(p.joints2d[sl], "h36m17"))
    expect_x = np.concatenate([mirror(clip["x"][..., :2], "coco17"), clip["x"][:, flip_c, 2:]], -1)
    np.testing.assert_allclose(m["x"], expect_x, atol=1e-5)
    np.testing.assert_allclose(m["joints"], mirror(clip["joints"], "h36m17"), atol=1e-6)
    np.testing.assert_allclose(m["joints2d"], mirror(clip["joints2d"], "h36m17"), atol=1e-4)
    s = SynthClipSampler([tmp_path], 8, seed=1)
    batch = s.sample(5)
    assert batch["x"].shape == (5, 8, 17, 3) and batch["joints2d"].shape == (5, 8, 17, 2)
    assert np.isfinite(batch["x"]).all() and np.isfinite(batch["joints"]).all()
    again = SynthClipSampler([tmp_path], 8, seed=1).sample(5)
    assert all(np.array_equal(batch[k], again[k]) for k in batch)
    # the up target: world +Y in the camera's axes, on every frame; mirrored clips see it mirrored
    assert batch["up"].shape == (5, 8, 3)
    np.testing.assert_allclose(batch["up"], np.broadcast_to([0.0, -1.0, 0.0], (5, 8, 3)))
    for person in s.people:  # frame f's up has x = f / 100: a clip must carry its own frames' values, in order
        person.up = np.stack([np.arange(40) / 100, -np.ones(40), np.zeros(40)], -1).astype(np.float32)
    clips = [s.random_clip() for _ in range(40)]
    for c in clips:
        x = np.abs(c["up"][:, 0])
        np.testing.assert_allclose(np.diff(x), 0.01, atol=1e-6)  # consecutive frames
    assert {bool(c["up"][-1, 0] > 0) for c in clips} == {True, False}  # mirrored clips: x -> -x


def test_detect_dataset_runs_the_detector_once(tmp_path):
    make_dataset(tmp_path)
    detections_path(tmp_path / "clip_0000/cam_01.npz").unlink()
    with VideoWriter(tmp_path / "clip_0000/cam_01.mp4", 30.0) as w:
        for fr in read_frames(EXAMPLE, end=8):
            w.write(fr.image)
    [path] = detect_dataset(tmp_path)
    found = read_poses(path)
    # the man in the example, every frame (and the woman standing in the background)
    assert len(found.tracks) == 2 and len(found.tracks[0]) == 8
    stamp = path.stat().st_mtime_ns
    detect_dataset(tmp_path)
    assert path.stat().st_mtime_ns == stamp


def test_train_estimate_mixes_synth_with_mocap(tmp_path, capsys):
    make_dataset(tmp_path / "synth")
    root = mocap_folder(tmp_path)
    w = tmp_path / "lifter.safetensors"
    code, _, err = run(capsys, "train", "estimate", "--data", f"cmu:{root}", "--data", f"synth:{tmp_path / 'synth'}",
                       "--temporal", "attention", "--val-subjects", "102", "--steps", "2", "--batch", "4", "--length",
                       "8", "-o", w, "-q")
    assert code == 0, err
    card = json.loads(w.with_suffix(".json").read_text())
    assert card["config"]["synth"] == [str(tmp_path / "synth")] and card["config"]["synth_fraction"] == 0.5
    assert card["data"] == f"cmu:{root}"
    assert card["synth_data"][0]["clips"] == 1 and card["synth_detected_person_views"] == 2
    code, _, err = run(capsys, "train", "estimate", "--data", f"synth:{tmp_path / 'synth'}", "--steps", "2",
                       "-o", tmp_path / "x.safetensors")
    assert code == 1 and "mocap" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()
    # the TCN (the default) reads renders in windows of its receptive field around the N frames: 26 + 8 = 34
    # frames, which only person 2 (detected on all 40 frames) has, 7 times
    y = tmp_path / "y.safetensors"
    code, _, err = run(capsys, "train", "estimate", "--data", f"cmu:{root}", "--data", f"synth:{tmp_path / 'synth'}",
                       "--channels", "16", "--val-subjects", "102", "--steps", "2", "--batch", "4", "--length", "8",
                       "-o", y, "-q")
    assert code == 0, err
    card = json.loads(y.with_suffix(".json").read_text())
    assert card["model"] == "TCNLifter" and card["synth_detected_person_views"] == 1 and card["synth_windows"] == 7


def test_batches_mix_synth_and_mocap_clips(tmp_path):
    """train_lifter draws round(fraction x batch) clips of every batch from the synth sampler, the rest from
    mocap, and trains on the mixed batch."""
    from posecli.mocap.sources import load_mocap
    from posecli.models.sps_lifter import LifterConfig
    from posecli.train.estimate import EstimateTrainConfig, train_lifter

    make_dataset(tmp_path / "synth")
    real = SynthClipSampler([tmp_path / "synth"], 9, seed=0)
    asked = []

    class Recording:
        def sample(self, n):
            asked.append(n)
            return real.sample(n)

    mocap = load_mocap(f"cmu:{mocap_folder(tmp_path)}")
    cfg = EstimateTrainConfig(steps=3, batch=4, length=8, synth_fraction=0.5, model=LifterConfig(up_head=True))
    logs = []
    train_lifter(mocap, cfg, synth=Recording(), on_step=lambda s, l: logs.append(l))
    assert asked == [2, 2, 2] and len(logs) == 3 and all(np.isfinite(l["loss"]) for l in logs)
    assert all(l["up"] > 0 and np.isfinite(l["up"]) for l in logs)
    asked.clear()
    logs.clear()
    cfg = EstimateTrainConfig(steps=2, batch=4, length=8, synth_fraction=1.0, model=LifterConfig(up_head=True))
    train_lifter(mocap, cfg, synth=Recording(), on_step=lambda s, l: logs.append(l))
    assert asked == [4, 4] and all(l["up"] > 0 for l in logs)  # all-synth batches train the up head too
    # renders without a calibration have no up direction: left out of the up loss, the rest still trains
    make_dataset(tmp_path / "bare", calibrated=False)
    bare = SynthClipSampler([tmp_path / "bare"], 9, seed=0)
    assert np.isnan(bare.sample(2)["up"]).all()
    logs.clear()
    train_lifter(mocap, cfg, synth=bare, on_step=lambda s, l: logs.append(l))
    assert all(l["up"] == 0 and np.isfinite(l["loss"]) for l in logs)


def test_vipe_pairs_are_one_instant_in_two_views(tmp_path):
    """Pr-VIPE's synth pairs: the detections of one person at one frame in two views, the 3D of that frame; a
    frame missed in either view never enters (nor, for a temporal model, any window over it); held-out subjects
    stay out."""
    from posecli.embed.normalize import model_input, normalize_3d
    from posecli.train.vipe_synth import SynthPairSampler, load_view_pairs

    root = tmp_path / "synth"
    make_two_view_dataset(root)

    pairs = load_view_pairs(root)
    assert len(pairs) == 2 and 20 not in pairs[0].centres and len(pairs[0].centres) == 39
    assert len(load_view_pairs(root, exclude_subjects=["HELD"])) == 1
    windowed = load_view_pairs(root, window=9)[0].centres
    # every window over the missed frame 20 is out; at the clip's ends the end frame repeats, as at inference
    np.testing.assert_array_equal(windowed, [f for f in range(40) if not 16 <= f <= 24])

    sampler = SynthPairSampler([root], seed=0, mirror=False, exclude_subjects=["HELD"])
    b = sampler.sample(16)
    p = sampler.pairs[0]
    truth3d = normalize_3d(p.joints3d)
    inputs = [model_input(*view) for view in (p.a, p.b)]
    for anchor, positive, pose in zip(b["anchor"], b["positive"], b["poses3d"]):
        f = int(np.argmin(np.abs(truth3d - pose).reshape(40, -1).max(1)))
        np.testing.assert_allclose(pose, truth3d[f], atol=1e-6)
        assert f != 20 and sorted([anchor.tobytes(), positive.tobytes()]) == sorted(
            [inputs[0][f].tobytes(), inputs[1][f].tobytes()])
    temporal = SynthPairSampler([root], window=9, seed=0, exclude_subjects=["HELD"]).sample(4)
    assert temporal["anchor"].shape == (4, 9 * 39) and temporal["poses3d"].shape == (4, 17, 3)


def make_two_view_dataset(root: Path) -> None:
    """:func:`make_dataset` plus a second camera: the same people seen 1.5 m further left, detected with its own
    noise, person 1 throughout."""
    make_dataset(root)
    truth1 = read_poses(root / "clip_0000/cam_01.npz")
    rng = np.random.default_rng(5)
    tracks, dets = [], []
    for t in truth1.tracks:
        cam = t.arrays["keypoints3d_all"] + np.float32([1.5, 0, 0])
        uv = project(cam)
        tracks.append(Track(t.id, t.frames, t.times, {KEYPOINTS_2D: Keypoints("coco17", uv, np.ones((40, 17)))},
                            {"keypoints3d_all": cam}))
        dets.append(Track(t.id, t.frames, t.times, {KEYPOINTS_2D: Keypoints(
            "coco17", uv + rng.normal(0, 2, uv.shape).astype(np.float32), np.full((40, 17), 0.9, np.float32))}))
    write_poses(Poses(tracks, 30.0, 640, 480, 40), root / "clip_0000/cam_02.npz")
    write_poses(Poses(dets, 30.0, 640, 480, 40), root / "clip_0000/cam_02.detections.npz")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["clips"][0]["views"].append({"name": "cam_02", "video": "clip_0000/cam_02.mp4",
                                          "poses": "clip_0000/cam_02.npz"})
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_train_vipe_mixes_synth_pairs_with_mocap(tmp_path, capsys):
    make_two_view_dataset(tmp_path / "synth")
    root = mocap_folder(tmp_path)
    w = tmp_path / "vipe.safetensors"
    code, _, err = run(capsys, "train", "vipe", "--data", f"cmu:{root}", "--synth", tmp_path / "synth",
                       "--val-subjects", "102", "--steps", "2", "--batch", "8", "--cameras", "2", "-o", w, "-q")
    assert code == 0, err
    card = json.loads(w.with_suffix(".json").read_text())
    assert card["config"]["synth"] == [str(tmp_path / "synth")] and card["config"]["synth_fraction"] == 0.5
    assert card["synth_data"][0]["clips"] == 1 and card["synth_person_view_pairs"] == 2
    assert card["synth_pair_frames"] == 39 + 40
