"""Human3.6M readers (posecli.images.h36m) on tiny fake trees in both layouts, written in the real file formats
(H.264 mp4 + cdf for the original release, jpg + annot.h5 for h36m-fetch's processed layout) with known values.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from cdflib.cdfwrite import CDF

from posecli.errors import InputError
from posecli.formats.vp3d import H36M32_TO_17
from posecli.images.crops import MARGIN
from posecli.images.h36m import detect_layout, h36m_samples
from posecli.joints import get
from posecli.video import VideoWriter

CAMS = ("54138969", "55011271")
H17 = get("h36m17")
PELVIS, HEAD, LWRIST = H17.index("pelvis"), H17.index("head"), H17.index("left_wrist")
VIDEO_FRAMES = 12
D2_FRAMES = 13
OTHER = [j for j in range(32) if j not in H36M32_TO_17]


def world32(n: int) -> np.ndarray:
    """(n, 32, 3) mm, Z up: joint j of frame i at (100 i + 10 j, 200 + j, 900 + 20 j) (every joint distinct)."""
    i, j = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(32, dtype=np.float64), indexing="ij")
    return np.stack([100 * i + 10 * j, 200 + j, 900 + 20 * j], -1)


def expected_yup(n: int) -> np.ndarray:
    """What the reader must give for world32: h36m17 order, metres, Y up ((x, y, z) Z-up -> (x, z, -y))."""
    w = world32(n)[:, H36M32_TO_17] / 1000.0
    return np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)


def uv32(n: int, shift: float) -> np.ndarray:
    """(n, 32, 2) pixels: the 17 kept joints span u in [20, 40] + shift, v in [10, 46] + i; the other 15 far off
    at (500, 500), so a wrong joint selection shows in the square. Square: (30 + shift, 28 + i, 36 * MARGIN)."""
    uv = np.full((n, 32, 2), 500.0)
    for k, j in enumerate(H36M32_TO_17):
        uv[:, j, 0] = 20 + (k % 5) * 5 + shift
        uv[:, j, 1] = 10 + np.arange(n) + (k // 5) * 12
    return uv


def colour(index: int, cam: int) -> tuple[int, int, int]:
    """Flat frame colour that survives lossy coding: red tells the frame index, green the camera."""
    return 10 + 12 * index, 60 + 120 * cam, 128


def write_cdf(path: Path, pose: np.ndarray) -> None:
    """``Pose`` as Human3.6M stores it: one record of (N, 32 * D) float32 (cdflib reads it back as (1, N, 32 * D))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = pose.reshape(1, len(pose), -1).astype(np.float32)
    cdf = CDF(path)
    cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1, "Rec_Vary": True,
                   "Dim_Sizes": list(flat.shape[1:])}, var_data=flat)
    cdf.close()


def make_original(root: Path, d3_frames: int, action: str = "Directions 1") -> Path:
    s1 = root / "S1"
    (s1 / "Videos").mkdir(parents=True)
    for c, cam in enumerate(CAMS):
        with VideoWriter(s1 / "Videos" / f"{action}.{cam}.mp4", fps=50) as w:
            for i in range(VIDEO_FRAMES):
                w.write(np.full((64, 64, 3), colour(i, c), np.uint8))
        write_cdf(s1 / "MyPoseFeatures" / "D2_Positions" / f"{action}.{cam}.cdf", uv32(D2_FRAMES, 5.0 * c))
    # a composite video with no poses of its own: must be skipped by name, never opened (it is not even a video)
    (s1 / "Videos" / f"_ALL 1.{CAMS[0]}.mp4").write_bytes(b"")
    write_cdf(s1 / "MyPoseFeatures" / "D3_Positions" / f"{action}.cdf", world32(d3_frames))
    return root


# ---------------------------------------------------------------- original release


@pytest.mark.parametrize("d3_frames, every, instants", [
    (9, 2, [0, 2, 4, 6, 8]),  # D3 (9) shorter than D2 (13) and the video (12): D3 bounds
    (14, 2, [0, 2, 4, 6, 8, 10]),  # the video (12) is the shortest: it bounds
    (14, 5, [0, 5, 10]),  # Protocol 2's training step
])
def test_original_layout_samples(tmp_path, d3_frames, every, instants):
    root = make_original(tmp_path, d3_frames)
    assert detect_layout(root) == "original"
    samples = list(h36m_samples(root, ["S1"], every))

    assert len(samples) == len(instants) * len(CAMS)
    assert {s.group for s in samples} == {"S1/Directions 1"}
    assert {s.subject for s in samples} == {"S1"}
    by_view = {cam: [s for s in samples if s.view == cam] for cam in CAMS}
    for cam in CAMS:
        assert [s.instant for s in by_view[cam]] == instants  # shared across cameras, in order
    want = expected_yup(d3_frames)
    for s in samples:
        c, i = CAMS.index(s.view), s.instant
        assert s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
        # the image is frame i of that camera's video (RGB, not BGR)
        assert np.allclose(s.image.reshape(-1, 3).mean(0), colour(i, c), atol=6)
        assert s.pose.shape == (17, 3) and s.pose.dtype == np.float32
        np.testing.assert_allclose(s.pose, want[i], atol=1e-5)
        # metres, Y up, h36m17 order: pelvis (32-joint 0), head (15) and left wrist (19), written out by hand
        np.testing.assert_allclose(s.pose[PELVIS], [0.1 * i, 0.9, -0.2], atol=1e-5)
        np.testing.assert_allclose(s.pose[HEAD], [0.1 * i + 0.15, 1.2, -0.215], atol=1e-5)
        np.testing.assert_allclose(s.pose[LWRIST], [0.1 * i + 0.19, 1.28, -0.219], atol=1e-5)
        assert s.pose[HEAD, 1] > s.pose[PELVIS, 1]
        # square centred on the 17 projected joints only (the 15 others sit at (500, 500))
        np.testing.assert_allclose(s.square, [30 + 5.0 * c, 28 + i, 36 * MARGIN], atol=1e-4)
    # the same instant carries the same label in every view
    for a, b in zip(by_view[CAMS[0]], by_view[CAMS[1]]):
        np.testing.assert_array_equal(a.pose, b.pose)


def test_original_camera_filter(tmp_path):
    root = make_original(tmp_path, 14)
    samples = list(h36m_samples(root, ["S1"], 5, cameras=[CAMS[1]]))
    assert [(s.view, s.instant) for s in samples] == [(CAMS[1], 0), (CAMS[1], 5), (CAMS[1], 10)]
    with pytest.raises(InputError, match="no camera 12345678 in S1"):
        h36m_samples(root, ["S1"], 5, cameras=["12345678"])


def test_original_missing_d2_is_named_before_decoding(tmp_path):
    root = make_original(tmp_path, 14)
    missing = root / "S1" / "MyPoseFeatures" / "D2_Positions" / f"Directions 1.{CAMS[1]}.cdf"
    missing.unlink()
    with pytest.raises(InputError) as err:
        h36m_samples(root, ["S1"], 5)  # raised by the call itself, not on iteration
    assert str(missing) in str(err.value) and "\n" not in str(err.value)


def test_h36m_fetch_extracted_folder_names(tmp_path):
    root = make_original(tmp_path, 14)
    features = root / "S1" / "MyPoseFeatures"
    (features / "D3_Positions").rename(root / "S1" / "Poses_D3_Positions")
    (features / "D2_Positions").rename(root / "S1" / "Poses_D2_Positions")
    assert detect_layout(root) == "original"
    assert len(list(h36m_samples(root, ["S1"], 5))) == 3 * len(CAMS)


# ---------------------------------------------------------------- processed layout (anibali/h36m-fetch)

FRAMES = {CAMS[0]: [1, 5, 9, 11, 17], CAMS[1]: [1, 5, 9, 13, 17]}  # 1-based; frame 13 only in the second camera
SEQ = 20


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ ry


def camera_a_poses() -> np.ndarray:
    """(SEQ, 32, 3) mm in the first camera's axes (x right, y down, z forward): pelvis at (100 + 10 f, 50, 4000),
    the head 700 mm above it (-y), the other joints spread at random (a 3D shape, so a rigid fit is determined)."""
    rng = np.random.default_rng(7)
    offsets = rng.normal(0, 250, (32, 3))
    f = np.arange(SEQ, dtype=np.float64)[:, None, None]
    pose = offsets[None] + np.array([100.0, 50.0, 4000.0]) + f * np.array([10.0, 0, 0]) + rng.normal(0, 30, (SEQ, 32, 3))
    pose[:, 0] = np.stack([100 + 10 * f[:, 0, 0], np.full(SEQ, 50.0), np.full(SEQ, 4000.0)], -1)
    pose[:, 15] = pose[:, 0] + [0, -700, 0]
    return pose


CAM_B = (rotation(100, 5), np.array([300.0, -100.0, 5000.0]))  # the second camera: turned, a little pitched


def make_processed(root: Path, joints: int = 32) -> Path:
    folder = root / "S1" / "Directions-1"
    pose_a = camera_a_poses()
    rows = {k: [] for k in ("camera", "frame", "pose/2d", "pose/3d")}
    for c, cam in enumerate(CAMS):
        (folder / "imageSequence" / cam).mkdir(parents=True)
        uv = uv32(SEQ, 5.0 * c)
        xyz = pose_a if c == 0 else pose_a @ CAM_B[0].T + CAM_B[1]
        for number in FRAMES[cam]:
            index = number - 1
            rgb = np.full((40, 48, 3), colour(index, c), np.uint8)
            assert cv2.imwrite(str(folder / "imageSequence" / cam / f"img_{number:06d}.jpg"), rgb[:, :, ::-1])
            rows["camera"].append(int(cam))
            rows["frame"].append(number)
            rows["pose/2d"].append(uv[index] if joints == 32 else uv[index, H36M32_TO_17])
            rows["pose/3d"].append(xyz[index] if joints == 32 else xyz[index, H36M32_TO_17])
    n = len(rows["frame"])
    with h5py.File(folder / "annot.h5", "w") as f:
        f["camera"] = np.array(rows["camera"], np.int64)
        f["frame"] = np.array(rows["frame"], np.int64)
        f["pose/2d"] = np.array(rows["pose/2d"], np.float32)
        f["pose/3d"] = np.array(rows["pose/3d"], np.float32)
        f["pose/3d-univ"] = np.array(rows["pose/3d"], np.float32) * 0.9  # must not be used when pose/3d is there
        f["intrinsics/" + CAMS[0]] = np.array([1145.0, 512.0, 1144.0, 515.0])
        f["subject"], f["action"], f["subaction"] = np.full(n, 1), np.full(n, 2), np.full(n, 1)
    return root


@pytest.mark.parametrize("joints", [32, 17])
def test_processed_layout_samples(tmp_path, joints):
    root = make_processed(tmp_path, joints)
    assert detect_layout(root) == "processed"
    samples = list(h36m_samples(root, ["S1"], 4))

    # frame index = number - 1; every=4 keeps 0, 4, 8, 12, 16 of those each camera has
    got = [(s.view, s.instant) for s in samples]
    assert got == [(CAMS[0], i) for i in (0, 4, 8, 16)] + [(CAMS[1], i) for i in (0, 4, 8, 12, 16)]
    assert {s.group for s in samples} == {"S1/Directions-1"} and {s.subject for s in samples} == {"S1"}
    # labels: the first camera's pose, metres, turned to Y up by (x, y, z) -> (x, -y, -z), h36m17 order
    truth = camera_a_poses()[:, H36M32_TO_17] / 1000.0 * np.array([1.0, -1.0, -1.0])
    for s in samples:
        c, i = CAMS.index(s.view), s.instant
        assert s.image.shape == (40, 48, 3)
        assert np.allclose(s.image.reshape(-1, 3).mean(0), colour(i, c), atol=8)
        assert s.pose.dtype == np.float32 and s.pose.shape == (17, 3)
        # frame 13 exists only in the second camera: its pose is moved into the first camera's axes (Kabsch)
        np.testing.assert_allclose(s.pose, truth[i], atol=2e-3)
        np.testing.assert_allclose(s.pose[PELVIS], [0.1 + 0.01 * i, -0.05, -4.0], atol=2e-3)
        np.testing.assert_allclose(s.pose[HEAD] - s.pose[PELVIS], [0, 0.7, 0], atol=2e-3)  # Y up
        np.testing.assert_allclose(s.square, [30 + 5.0 * c, 28 + i, 36 * MARGIN], atol=1e-4)
    first = {s.instant: s.pose for s in samples if s.view == CAMS[0]}
    for s in samples:
        if s.view == CAMS[1] and s.instant in first:
            np.testing.assert_array_equal(s.pose, first[s.instant])  # one label per instant, whatever the view


def test_processed_every_and_camera_filter(tmp_path):
    root = make_processed(tmp_path)
    assert [(s.view, s.instant) for s in h36m_samples(root, ["S1"], 8, cameras=[CAMS[1]])] == \
        [(CAMS[1], 0), (CAMS[1], 8), (CAMS[1], 16)]
    assert len(list(h36m_samples(root, ["S1"], 1))) == 10  # every=1: all frames the fetcher kept


def test_processed_missing_image(tmp_path):
    root = make_processed(tmp_path)
    gone = root / "S1" / "Directions-1" / "imageSequence" / CAMS[1] / "img_000013.jpg"
    gone.unlink()
    with pytest.raises(InputError, match="annot.h5 lists this frame") as err:
        list(h36m_samples(root, ["S1"], 4))
    assert str(gone) in str(err.value)


# ---------------------------------------------------------------- errors


def test_neither_layout_is_one_clear_line(tmp_path):
    (tmp_path / "S1" / "Videos").mkdir(parents=True)  # videos folder but no videos, no poses
    (tmp_path / "S1" / "notes.txt").write_text("x")
    for call in (lambda: detect_layout(tmp_path), lambda: h36m_samples(tmp_path, ["S1"], 5)):
        with pytest.raises(InputError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg
        assert msg.startswith(f"{tmp_path / 'S1'}: neither Videos/*.mp4 + MyPoseFeatures/D3_Positions/*.cdf")
        assert "annot.h5 (processed layout)" in msg and err.value.fix


def test_missing_subject_is_named(tmp_path):
    root = make_original(tmp_path, 14)
    with pytest.raises(InputError) as err:
        h36m_samples(root, ["S1", "S9", "S11"], 64)
    msg = str(err.value)
    assert "\n" not in msg and "S9, S11" in msg and "subjects found: S1" in msg


def test_no_subject_folders(tmp_path):
    with pytest.raises(InputError, match="holds no subject folder"):
        detect_layout(tmp_path)
    with pytest.raises(InputError, match="is not a folder"):
        detect_layout(tmp_path / "nope")


def test_mixed_layouts(tmp_path):
    make_original(tmp_path, 14)
    (tmp_path / "S5" / "Walking-1" / "imageSequence").mkdir(parents=True)
    (tmp_path / "S5" / "Walking-1" / "annot.h5").write_bytes(b"")
    with pytest.raises(InputError, match=r"mixes layouts \(S1: original; S5: processed\)"):
        detect_layout(tmp_path)
    assert detect_layout(tmp_path, ["S1"]) == "original"


def test_bad_every(tmp_path):
    make_original(tmp_path, 14)
    with pytest.raises(Exception, match="every=0"):
        h36m_samples(tmp_path, ["S1"], 0)


def test_data_crops_and_train_mcss_on_a_processed_tree(tmp_path, capsys):
    """The whole path a Human3.6M user takes: crops cut once, then a (tiny) MCSS run on them."""
    import json

    from posecli.cli import main
    from posecli.images.cache import load_cache

    root = make_processed(tmp_path / "h36m")
    assert main(["data", "crops", f"h36m:{root}", "--subjects", "S1", "--crop-size", "32", "-q",
                 "-o", str(tmp_path / "crops")]) == 0
    c = load_cache(tmp_path / "crops")
    assert c.size == 32 and c.labelled.all() and set(c.names("views")) == set(CAMS)
    assert c.meta["fps"] == 50.0 and np.allclose(np.unique(c.time), np.unique(c.instant) / 50.0)
    out = tmp_path / "m.safetensors"
    assert main(["train", "mcss", "--data", f"cache:{tmp_path / 'crops'}", "--val", f"cache:{tmp_path / 'crops'}",
                 "--steps", "2", "--width", "8", "--input-size", "32", "--label-subjects", "S1", "-q",
                 "-o", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["supervision"]["labelled_crops_used"] == len(c)
    assert main(["data", "crops", f"h36m:{root}", "--subjects", "S9", "-q", "-o", str(tmp_path / "c2")]) != 0
    assert "S9" in capsys.readouterr().err
    assert not (tmp_path / "c2").exists()
