"""BlazePose ported to torch (posecli.detect.tflite_torch) against LiteRT running the same .tflite files.

The models come from the installed mediapipe wheel, so everything but the shared-frame checks runs anywhere.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from posecli.detect import BlazePoseMulti, Roi, models
from posecli.detect.tflite_torch import _DepthToSpace, _same_pads, densify, load_tflite
from posecli.errors import PoseCliError

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


@pytest.fixture(scope="module")
def litert():
    return BlazePoseMulti()


@pytest.fixture(scope="module")
def ported():
    return BlazePoseMulti(runtime="torch", device="cpu")


# ---------------------------------------------------------------- operators

def _level(fmt: int, size: int = 0, segments=None, indices=None):
    return SimpleNamespace(format=fmt, denseSize=size,
                           arraySegments=None if segments is None else SimpleNamespace(values=np.array(segments)),
                           arrayIndices=None if indices is None else SimpleNamespace(values=np.array(indices)))


def test_densify_row_compressed():
    dense = np.array([[1, 0, 0, 0], [0, 2, 3, 0], [0, 0, 0, 0], [0, 0, 4, 5]], np.float32)
    sparsity = SimpleNamespace(traversalOrder=[0, 1], blockMap=None,
                               dimMetadata=[_level(0, 4), _level(1, segments=[0, 1, 3, 3, 5], indices=[0, 1, 2, 2, 3])])
    out = densify(np.array([1, 2, 3, 4, 5], np.float32), (4, 4), sparsity)
    np.testing.assert_array_equal(out, dense)


def test_densify_block_sparse():
    # 1x2 blocks along the columns: rows dense, column blocks compressed, the block's two values dense.
    dense = np.array([[1, 2, 0, 0], [0, 0, 3, 4], [0, 0, 0, 0], [5, 0, 0, 6]], np.float32)
    sparsity = SimpleNamespace(traversalOrder=[0, 1, 2], blockMap=[1],
                               dimMetadata=[_level(0, 4), _level(1, segments=[0, 1, 2, 2, 4], indices=[0, 1, 0, 1]),
                                            _level(0, 2)])
    out = densify(np.array([1, 2, 3, 4, 5, 0, 0, 6], np.float32), (4, 4), sparsity)
    np.testing.assert_array_equal(out, dense)


def test_depth_to_space_uses_tensorflows_channel_order():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype(np.float32)  # NHWC, block 2 -> 3 channels
    n, h, w, c = x.shape
    expected = x.reshape(n, h, w, 2, 2, c // 4).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * 2, w * 2, c // 4)
    got = _DepthToSpace(2)(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(got, expected)
    # torch's pixel_shuffle orders channels the other way: it would not do
    shuffled = torch.nn.functional.pixel_shuffle(torch.from_numpy(x).permute(0, 3, 1, 2), 2)
    assert not np.array_equal(shuffled.permute(0, 2, 3, 1).numpy(), expected)


def test_same_padding_puts_the_odd_pixel_after():
    assert _same_pads(224, 3, 2) == (0, 1)  # TF SAME, stride 2 on an even size: one pixel at the end only
    assert _same_pads(56, 5, 1) == (2, 2)
    assert _same_pads(7, 3, 2) == (1, 1)


# ---------------------------------------------------------------- whole networks

@pytest.mark.parametrize(("parts", "side", "low"),
                         [(models.DETECTOR_FILE, 224, -1.0), (models.LANDMARK_FILE, 256, 0.0)])
def test_port_matches_litert_on_the_same_input(parts, side, low):
    x = np.random.default_rng(1).uniform(low, 1.0, size=(2, side, side, 3))  # the model's input range
    ref = models.LiteRtRunner(models.model_path(parts))(x.astype(np.float32))
    got = models.TorchRunner(models.model_path(parts))(x.astype(np.float32))
    assert set(got) == set(ref)
    for name in ref:
        diff, size = np.abs(got[name] - ref[name]), np.abs(ref[name])
        assert got[name].shape == ref[name].shape
        # float32 sums in another order: ~1e-5 of the typical value; the segmentation logits, at the end of the
        # longest chain of layers and up to ~1500 on noise, reach 1.4e-3 of their largest value at worst
        assert diff.mean() <= 1e-4 * max(float(size.mean()), 1e-2), name
        assert diff.max() <= 2e-3 * max(float(size.max()), 1.0), name
    # the two batch items are computed independently (not mixed by a reshape)
    one = models.TorchRunner(models.model_path(parts))(x[1:].astype(np.float32))
    for name in ref:
        np.testing.assert_allclose(one[name][0], got[name][1], rtol=1e-4, atol=1e-4 * np.abs(got[name]).max())


def test_select_drops_the_unused_segmentation_branch():
    full = load_tflite(models.model_path(models.LANDMARK_FILE))
    names = [n for n, s in zip(full.output_names, full.output_shapes) if s != (256, 256, 1)]
    small = full.select(names)
    assert len(small.layers) < len(full.layers) and small.output_names == names
    x = torch.rand(1, 256, 256, 3)
    for a, b in zip(small(x), [o for o, s in zip(full(x), full.output_shapes) if s != (256, 256, 1)]):
        torch.testing.assert_close(a, b)


def test_litert_select_runs_a_model_without_the_segmentation_branch():
    from posecli.detect.tflite_prune import pruned_model

    path = models.model_path(models.LANDMARK_FILE)
    full = models.LiteRtRunner(path)
    names = [n for n, s in full.outputs.items() if s != (256, 256, 1)]
    small = models.LiteRtRunner(path)
    small.select(names)
    # the rebuilt interpreter no longer has the mask among its outputs (so its operators are not run) ...
    assert {d["name"] for d in small._interp.get_output_details()} == set(names)
    smaller = models.open_interpreter(path, content=pruned_model(path.read_bytes(), names))
    ops = {len(i._get_ops_details()) for i in (full._interp, smaller)}
    assert len(ops) == 2 and min(ops) == len(smaller._get_ops_details())
    # ... and the outputs kept are the full model's, to the bit
    x = np.random.default_rng(2).uniform(0, 1, size=(2, 256, 256, 3)).astype(np.float32)
    ref, got = full(x), small(x)
    assert set(got) == set(names)
    for name in names:
        np.testing.assert_array_equal(got[name], ref[name])
    with pytest.raises(ValueError, match="no outputs"):
        pruned_model(path.read_bytes(), ["not_an_output"])


def test_batched_landmarks_equal_one_by_one(ported):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    rois = [Roi(100, 120, 150, 0.3), Roi(200, 100, 0.5), Roi(220, 130, 200, -0.4)]  # the middle one is degenerate
    loose = ported.landmarks
    loose.min_score, before = 0.0, loose.min_score
    try:
        many = loose.run_many(image, rois)
        single = [loose.run(image, r) for r in rois]
    finally:
        loose.min_score = before
    assert many[1] is None and single[1] is None
    # A batch of 3 takes other convolution kernels than a batch of 1, so float32 sums run in another order:
    # up to 1.1e-3 px apart on an AMD EPYC with AVX-512 (session 22), 0.01 px is still far below a pixel.
    for a, b in ((many[0], single[0]), (many[2], single[2])):
        assert np.abs(a.keypoints - b.keypoints).max() < 1e-2 and abs(a.score - b.score) < 1e-6


def test_litert_refuses_a_gpu_with_a_hint():
    with pytest.raises(PoseCliError, match="CPU only.*blazepose-torch"):
        models.open_runner(models.DETECTOR_FILE, "litert", "cuda")


# ---------------------------------------------------------------- real frames

def _frame(relpath: str, index: int) -> np.ndarray:
    from posecli.video import read_frames

    path = VIDEOS / relpath
    if not path.is_file():
        pytest.skip(f"shared videos not found at {VIDEOS}")
    return next(iter(read_frames(path, index, index + 1))).image


@pytest.mark.parametrize(("relpath", "index", "people"), [("pose2sim_multi/cam01.mp4", 0, 2),
                                                          ("sports2d/demo.mp4", 100, 1)])
def test_port_finds_the_same_people_as_litert(litert, ported, relpath, index, people):
    image = _frame(relpath, index)
    dets_a, dets_b = litert.detector.detect(image, tiled=True), ported.detector.detect(image, tiled=True)
    assert len(dets_a) == len(dets_b) >= people
    for a, b in zip(dets_a, dets_b):
        assert abs(a.score - b.score) < 1e-4 and np.abs(a.keypoints - b.keypoints).max() < 0.5
    pa, pb = litert.process(image), ported.process(image)
    assert len(pa) == len(pb) >= people
    for a, b in zip(pa, pb):
        assert np.linalg.norm(a.keypoints - b.keypoints, axis=1).mean() < 1.0  # pixels, on a 1920-px frame
        assert np.abs(a.world - b.world).max() < 0.005  # metres
        assert abs(a.score - b.score) < 1e-4


# ---------------------------------------------------------------- the command

def test_track_with_the_port_gives_litert_s_people(tmp_path, capsys):
    from posecli.cli import main
    from posecli.formats import read_poses
    from posecli.poses import KEYPOINTS_2D

    video = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"
    outs = {}
    for backend in ("blazepose", "blazepose-torch"):
        outs[backend] = tmp_path / f"{backend}.npz"
        code = main(["track", str(video), "--end", "4", "--backend", backend, "-o", str(outs[backend]), "-q"])
        assert code == 0, capsys.readouterr().err
    a, b = (read_poses(outs[k]) for k in outs)
    assert [len(t) for t in a.tracks] == [len(t) for t in b.tracks] and a.tracks
    assert b.meta["command"] == "track"
    for ta, tb in zip(a.tracks, b.tracks):
        pa, pb = ta.keypoints[KEYPOINTS_2D].points, tb.keypoints[KEYPOINTS_2D].points
        assert np.nanmedian(np.linalg.norm(pa - pb, axis=-1)) < 0.5  # pixels, 4 frames into the tracking loop


@pytest.mark.parametrize("args", [["--device", "cuda"], ["--backend", "mediapipe-single", "--device", "cuda:0"],
                                  ["--backend", "blazepose-torch", "--device", "cuda"]])
def test_track_on_an_unusable_device_is_one_line(tmp_path, capsys, args):
    """(On a CUDA machine the first two would say that LiteRT and MediaPipe run on the CPU only.)"""
    from posecli.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "t.npz"
    code = main(["track", str(Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"), *args,
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "cuda is not available" in err.lower() and len(err.strip().splitlines()) == 1
    assert not out.exists() and "internal error" not in err.lower()
