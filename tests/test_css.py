"""CSS (seed 001, Honari et al.): the DSL and CSS losses, the background median, the spatial transformer's crop
geometry, self-supervised training and the TI swap on a toy, phase 2 and the ``train css`` / ``estimate --model
css`` commands. Data are made here (coloured disks over a dark gradient), so nothing needs ../shared."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from posecli.errors import InputError
from posecli.images.cache import CropSet, FrameSample, load_cache, write_cache
from posecli.images.frames import backgrounds, build_frame_cache, check_frames, frame_square
from posecli.models.css import CssConfig, CssNet
from posecli.train.css import CssTrainConfig, model_config, to_tensor, train_ssl


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread; restored after each test (other tests' results, e.g. synth's
    in-process vs worker renders, depend on torch's thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = dict(frame_size=64, crop_size=32, width=8, detector_width=8, tv_dim=16, ti_dim=8, decoder_channels=16)
SIZE = 64
FPS = 10.0
RADIUS = 14
# one colour per video: the toy's appearance (time-invariant); the disk's position is its pose (time-variant)
COLOURS = [(230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 210, 40), (200, 40, 210), (40, 210, 220)]


# ---------------------------------------------------------------------------------------------- losses (Eq. 3-6)

def _at_angles(degrees) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference (1, 0) and unit vectors at the given angles: cos similarity = cos(angle)."""
    r = torch.tensor([math.radians(a) for a in degrees], dtype=torch.float64)
    b = torch.stack([torch.cos(r), torch.sin(r)], 1) * 3.0  # the length must not matter
    return torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(len(r), 2), b


def test_dsl_values_at_the_window_edges():
    from posecli.css.loss import dsl

    d_max = 2.0
    cases = [  # (d, angle -> s, expected Eq. 5)
        (0.0, 0, 0.0),  # same time, same direction: nothing to pull
        (0.0, 60, 0.5),  # |1 - 0.5|
        (0.0, 180, 2.0),  # |1 - (-1)|
        (0.5, 60, 0.25),  # near branch, weight 1 - 2 * 0.5 / 2 = 0.5
        (1.0, 60, 0.0),  # d = d_max / 2 exactly: the near branch with weight 0
        (1.0, 120, 0.0),
        (1.01, 60, 0.01 * 0.5),  # just beyond: far branch, tiny weight 2 * 1.01 / 2 - 1 = 0.01, times |s|
        (1.5, 120, 0.5 * 0.5),  # far branch, |s| with s = -0.5
        (2.0, 60, 0.5),  # d = d_max: weight 1 -> |s|
        (2.0, 90, 0.0),  # orthogonal latents are what distant frames should have
        (6.0, 60, 0.5),  # 3 d_max: the weight is clamped at 1
        (6.0, 180, 1.0),
    ]
    a, b = _at_angles([c[1] for c in cases])
    d = torch.tensor([c[0] for c in cases], dtype=torch.float64)
    got = dsl(a, b, d, d_max)
    assert torch.allclose(got, torch.tensor([c[2] for c in cases], dtype=torch.float64), atol=1e-9)
    # continuous across d_max / 2 and flat beyond d_max
    a1, b1 = _at_angles([60, 60, 60])
    edge = dsl(a1, b1, torch.tensor([0.999, 1.0, 1.001], dtype=torch.float64), d_max)
    assert edge.max() < 1e-3
    far = dsl(a1, b1, torch.tensor([2.0, 4.0, 100.0], dtype=torch.float64), d_max)
    assert torch.allclose(far, torch.full((3,), 0.5, dtype=torch.float64))


def test_dsl_all_sums_three_pairs_and_css_is_a_softmax_over_cosines():
    from posecli.css.loss import css_contrastive, dsl, dsl_all

    g = torch.Generator().manual_seed(0)
    ref, near, mid, away = (torch.randn(5, 7, generator=g, dtype=torch.float64) for _ in range(4))
    dn, dm, da = (torch.full((5,), v, dtype=torch.float64) for v in (0.1, 1.2, 2.5))
    expected = (dsl(ref, near, dn, 2.0) + dsl(ref, mid, dm, 2.0) + dsl(ref, away, da, 2.0)).mean()
    got = dsl_all(ref, near, mid, away, dn, dm, da, 2.0)
    assert got.item() == pytest.approx(expected.item(), abs=1e-12)
    # by hand on one sample: near at 0.1 s (weight 0.9), mid at 1.2 s (weight 0.2), away at 2.5 s (weight 1)
    a, b = _at_angles([30, 80, 100])
    one = dsl_all(a[:1], b[:1], b[1:2], b[2:3], *(torch.tensor([v], dtype=torch.float64) for v in (0.1, 1.2, 2.5)),
                  2.0)
    s = [math.cos(math.radians(x)) for x in (30, 80, 100)]
    assert one.item() == pytest.approx(0.9 * (1 - s[0]) + 0.2 * abs(s[1]) + 1.0 * abs(s[2]), abs=1e-9)

    # Eq. 3 with tau = 0.1: -log(exp(s+/tau) / sum_k exp(s_k/tau)), averaged over the batch
    a, pos = _at_angles([20, 50])
    _, n1 = _at_angles([70, 10])
    _, n2 = _at_angles([170, 90])
    loss = css_contrastive(a, pos, [n1, n2])
    by_hand = []
    for p, x, y in ((20, 70, 170), (50, 10, 90)):
        e = [math.exp(math.cos(math.radians(v)) / 0.1) for v in (p, x, y)]
        by_hand.append(-math.log(e[0] / sum(e)))
    assert loss.item() == pytest.approx(sum(by_hand) / 2, abs=1e-9)
    assert by_hand[1] > by_hand[0]  # a negative closer than the positive costs more


def test_box_prior_is_zero_at_the_centred_half_frame():
    from posecli.css.loss import box_prior

    centred = torch.tensor([[0.4, 0.6, 0.1, -0.2], [0.6, 0.4, -0.1, 0.2]])  # batch average: s 0.5, u 0
    assert box_prior(centred).item() == pytest.approx(0.0, abs=1e-12)
    off = torch.tensor([[0.7, 0.7, 0.2, 0.0]])  # side 0.7 -> (0.2 / 0.1)^2; centre x 0.2 -> (0.2 / 0.2)^2
    assert box_prior(off).item() == pytest.approx(4.0 + 1.0, rel=1e-6)


# ------------------------------------------------------------------------------------------ the background median

def _moving_square(background: np.ndarray, t: int, reverse: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
    img = background.copy()
    h, w = img.shape[:2]
    x, y = 4 + 3 * t, 6 + 2 * t
    if reverse:
        x, y = w - 12 - 3 * t, h - 14 - 2 * t
    img[y:y + 8, x:x + 8] = (255, 255, 255)
    return img, (x, y)


def test_background_is_the_per_pixel_median_of_a_frame_cache(tmp_path):
    """Two static cameras (64 x 48, letterboxed to 64 x 64) with a small square crossing each: the median is the
    background, also where the square passed, and black in the letterbox bars."""
    rng = np.random.default_rng(0)
    bgs_true = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    frames = 18

    def samples():
        for g in range(2):
            for t in range(frames):
                img, _ = _moving_square(bgs_true[g], t, reverse=g == 1)
                yield FrameSample(f"cam{g}.mp4", f"cam{g}", f"cam{g}.mp4", t, img, frame_square(64, 48), None,
                                  t / FPS)

    path = write_cache(samples(), tmp_path / "frames", SIZE, "test", {"content": "frames"})
    cs = check_frames(load_cache(path), path)
    assert len(cs) == 2 * frames and cs.size == SIZE and not cs.labelled.any()
    first, _ = _moving_square(bgs_true[0], 0)
    assert np.array_equal(cs.crops[0][8:56], first)  # the memory-mapped frame is the letterboxed image, exactly
    for samples_used in (64, 10):  # all 18 frames, and a random 10 of them
        bg = backgrounds(cs, samples=samples_used)
        assert bg.shape == (2, SIZE, SIZE, 3) and bg.dtype == np.uint8
        for g in range(2):
            assert np.array_equal(bg[g][8:56], bgs_true[g])
            assert bg[g][:8].max() == 0 and bg[g][56:].max() == 0
    # a person-crop (MCSS) cache is not a frame cache
    other = write_cache(samples(), tmp_path / "crops", 32, "test")
    with pytest.raises(InputError, match="person-crop"):
        check_frames(load_cache(other), other)


def test_background_of_a_written_video(tmp_path):
    """The same through a real H.264 file read by ``videos:DIR``: within a few grey levels of the background."""
    from posecli.video import VideoWriter

    yy, xx = np.mgrid[0:48, 0:64]
    background = np.stack([40 + 2 * xx, 60 + 2 * yy, 120 + xx - yy], -1).astype(np.uint8)
    folder = tmp_path / "videos"
    folder.mkdir()
    passed = np.zeros((48, 64), bool)
    with VideoWriter(folder / "clip.mp4", fps=FPS) as w:
        for t in range(18):
            img, (x, y) = _moving_square(background, t)
            passed[y:y + 8, x:x + 8] = True
            w.write(img)
    cs = check_frames(load_cache(build_frame_cache(f"videos:{folder}", tmp_path / "frames", SIZE)), folder)
    assert len(cs) == 18 and cs.names("groups") == ["clip.mp4"]
    assert np.allclose(cs.time, np.arange(18) / FPS)
    bg = backgrounds(cs)[0].astype(int)
    err = np.abs(bg[8:56] - background.astype(int)).max(-1)
    assert np.median(err[passed]) <= 3 and np.percentile(err[passed], 95) <= 8
    assert err[passed].mean() < 4
    # the square itself (255) is gone from the median everywhere it passed
    assert (bg[8:56][passed].min(-1) < 200).all()


# -------------------------------------------------------------------------------------- spatial transformer (STN)

def test_crop_and_uncrop_geometry():
    """A frame whose channels hold each pixel's column and row: the crop of a known box reads exactly the box's
    pixels, the inverse transformer puts them back in place with zeros outside, and box_pixels agrees."""
    from posecli.css.grid import box_pixels

    net = CssNet(CssConfig(frame_size=64, crop_size=16, width=8, detector_width=8, tv_dim=16, ti_dim=8,
                           decoder_channels=16)).eval()
    rows, cols = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    frame = torch.stack([cols, rows, torch.zeros(64, 64)])[None]
    x0, y0, x1, y1 = 32, 8, 48, 40
    frame[0, 2, y0:y1, x0:x1] = 1.0  # a marked rectangle, exactly the box
    # half-sides (fractions of the frame's half-side) and centre, normalised: x spans [0, 0.5], y [-0.75, 0.25]
    box = torch.tensor([[0.25, 0.5, 0.25, -0.25]])
    assert box_pixels(box[0].numpy(), 64) == (x0, y0, x1, y1)
    crop = net.crop(frame, box)
    assert crop.shape == (1, 3, 16, 16)
    # x: 16 crop pixels over 16 frame pixels, one to one; y: 16 over 32, each crop row between two frame rows
    assert torch.allclose(crop[0, 0], (torch.arange(16.0) + x0).expand(16, 16), atol=1e-4)
    assert torch.allclose(crop[0, 1], (y0 + 0.5 + 2 * torch.arange(16.0))[:, None].expand(16, 16), atol=1e-4)
    assert crop[0, 0, 0, 0].item() == pytest.approx(32) and crop[0, 0, -1, -1].item() == pytest.approx(47)
    assert crop[0, 1, 0, 0].item() == pytest.approx(8.5) and crop[0, 1, -1, -1].item() == pytest.approx(38.5)
    assert torch.allclose(crop[0, 2], torch.ones(16, 16))  # all inside the mark, nothing of outside
    back = net.uncrop(crop, box)
    assert back.shape == (1, 3, 64, 64)
    inner = (slice(None), slice(y0 + 1, y1 - 1), slice(x0, x1))  # the edge rows blend with the zero padding
    assert torch.allclose(back[0][inner], frame[0][inner], atol=1e-4)
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[y0 - 1:y1 + 1, x0:x1] = False  # a crop row spans two frame rows: bilinear reaches one row beyond
    assert back[0][:, outside].abs().max() < 1e-3  # zero up to float rounding at the box's side edges
    assert torch.allclose(back[0, 2, y0 - 1, x0:x1], torch.tensor(0.25), atol=1e-4)
    assert torch.allclose(back[0, 2, y0, x0:x1], torch.tensor(0.75), atol=1e-4)
    # the identity box crops (and puts back) the whole frame at the crop's resolution
    full = CssNet(CssConfig(frame_size=64, crop_size=64, width=8, detector_width=8, tv_dim=16, ti_dim=8,
                            decoder_channels=16))
    ident = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert torch.allclose(full.crop(frame, ident), frame, atol=1e-4)
    assert torch.allclose(full.uncrop(frame, ident), frame, atol=1e-4)
    assert box_pixels(ident[0].numpy(), 64) == (0, 0, 64, 64)
    # Eq. 1: a mask of 1 shows the decoded crop inside the box, the background elsewhere
    rgb, mask = torch.full((1, 3, 16, 16), 0.9), torch.ones(1, 1, 16, 16)
    bg = torch.full((1, 3, 64, 64), 0.2)
    out = net.composite(rgb, mask, box, bg)
    assert torch.allclose(out[0][:, y0 + 1:y1 - 1, x0:x1], torch.tensor(0.9))
    assert torch.allclose(out[0][:, outside], torch.tensor(0.2))


def test_detector_starts_at_the_centred_half_frame():
    net = CssNet(CssConfig(**TINY)).eval()
    with torch.no_grad():
        box = net.detect(torch.rand(3, 3, 64, 64))
    assert torch.allclose(box, torch.tensor([0.5, 0.5, 0.0, 0.0]).expand(3, 4), atol=1e-5)


# --------------------------------------------------------------------------------------------- toy videos

def _background(w: int = SIZE, h: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    v = 20 + 30 * xx / w + 20 * yy / h
    return np.repeat(v[..., None], 3, 2).astype(np.uint8)


def _centre(v: int, t: int) -> tuple[float, float]:
    ph = 2 * math.pi * t / 24 + v
    return 32 + 6 * math.cos(ph), 32 + 5 * math.sin(2 * ph)


def _disk(v: int, t: int) -> np.ndarray:
    cx, cy = _centre(v, t)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return (xx - round(cx)) ** 2 + (yy - round(cy)) ** 2 <= RADIUS ** 2


def _toy_frame(v: int, t: int) -> np.ndarray:
    img = _background()
    img[_disk(v, t)] = COLOURS[v]
    return img


# an H36M-17 skeleton, pelvis at the origin, metres, camera axes (y down)
_SKELETON = np.array([[0, 0, 0], [-0.12, 0, 0], [-0.12, 0.45, 0], [-0.12, 0.9, 0], [0.12, 0, 0], [0.12, 0.45, 0],
                      [0.12, 0.9, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.75, 0], [0.2, -0.5, 0],
                      [0.45, -0.5, 0], [0.7, -0.5, 0], [-0.2, -0.5, 0], [-0.45, -0.5, 0], [-0.7, -0.5, 0]])


def _toy_pose(v: int, t: int) -> np.ndarray:
    """Camera-frame pose: the skeleton leans in the image plane with the disk's horizontal position."""
    cx, cy = _centre(v, t)
    a = (cx - 32) / 6 * 0.5
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return (_SKELETON @ rot.T + np.array([(cx - 32) / 20, (cy - 32) / 20, 3.0])).astype(np.float32)


def _toy_samples(videos: int = 6, frames: int = 24):
    for v in range(videos):
        for t in range(frames):
            yield FrameSample(f"v{v}", f"s{v}", "cam", t, _toy_frame(v, t), frame_square(SIZE, SIZE),
                              _toy_pose(v, t), t / FPS)


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("css") / "frames"
    write_cache(_toy_samples(), path, SIZE, "toy", {"content": "frames", "pose_frame": "camera"})
    return path


@pytest.fixture(scope="module")
def trained(toy_cache):
    """The full variant after 200 steps (batches of 4 videos x 4 frames), over the true backgrounds (the median
    of this toy keeps the big, slow disk's centre: a subject who stays put stays in the median)."""
    cs = load_cache(toy_cache)
    cfg = CssTrainConfig(variant="full", steps=200, groups=4, lr=3e-3, positive=0.2, negative=1.0, seed=0,
                         model=model_config("full", **TINY))
    net, history = train_ssl(cs, np.stack([_background()] * 6), cfg, log_every=50)
    return cs, net, history


# ---------------------------------------------------------------------------------------------------- training

def test_batches_follow_the_windows_and_ti_comes_from_the_same_video(toy_cache):
    from posecli.css.sampling import sample_batch, ti_permutation, video_index

    cs = load_cache(toy_cache)
    index = video_index(cs.group, cs.time)
    assert len(index.rows) == 6 and list(index.usable) == list(range(6))
    rng = np.random.default_rng(0)
    rows, dist = sample_batch(rng, index, 16, positive=0.2, negative=1.0)
    assert rows.shape == dist.shape == (16, 4)
    assert (cs.group[rows] == cs.group[rows[:, :1]]).all()  # one video per group of 4
    assert np.allclose(dist, np.abs(cs.time[rows] - cs.time[rows[:, :1]]))
    assert (dist[:, 0] == 0).all() and (rows[:, 1:] != rows[:, :1]).all()
    assert (dist[:, 1] <= 0.2 + 1e-9).all() and (dist[:, 3] >= 1.0 - 1e-9).all()
    assert ((dist[:, 2] > 0.2) & (dist[:, 2] < 1.0 + 1e-9)).all()
    _, css_dist = sample_batch(rng, index, 16, positive=0.2, negative=1.0, plain_css=True)
    assert (css_dist[:, 2:] >= 1.0 - 1e-9).all()  # the CSS baseline: two away negatives
    perm = ti_permutation(rng, 16)
    assert sorted(perm) == list(range(64))  # a permutation
    assert (perm // 4 == np.arange(64) // 4).all() and (perm != np.arange(64)).all()  # same video, other frame


def test_a_few_steps_decrease_the_reconstruction_loss(trained):
    _, net, history = trained
    assert [h["step"] for h in history] == [50, 100, 150, 200]
    first, last = history[0], history[-1]
    assert all(math.isfinite(h[k]) for h in history for k in ("loss", "reconstruction", "contrastive", "box"))
    assert last["reconstruction"] < 0.8 * first["reconstruction"]
    assert last["loss"] < first["loss"]
    assert 0.3 < last["box_side"] < 0.7  # the box prior keeps the detector near the half-frame


@pytest.mark.parametrize("variant", ["css", "ae", "dsl"])
def test_baseline_variants_train_without_the_split(toy_cache, variant):
    cs = load_cache(toy_cache)
    cfg = CssTrainConfig(variant=variant, steps=3, groups=2, positive=0.2, negative=1.0,
                         model=model_config(variant, **TINY))
    assert not cfg.model.split and cfg.model.latent_dim == 16 + 8
    net, history = train_ssl(cs, np.stack([_background()] * 6), cfg, log_every=1)
    assert len(history) == 3
    assert all(math.isfinite(h[k]) for h in history for k in ("loss", "reconstruction", "contrastive", "box"))
    if variant == "ae":
        assert all(h["contrastive"] == 0.0 for h in history)
    else:
        assert all(h["contrastive"] > 0.0 for h in history)
    with torch.no_grad():
        box, latent, ti = net.features(to_tensor(np.array(cs.crops[:4]), "cpu"))
    assert latent.shape == (4, 24) and ti is None
    with pytest.raises(ValueError, match="split"):
        net.encode_ti(torch.zeros(1, 3, 32, 32))


def test_ti_swap_changes_appearance_and_keeps_the_pose(trained):
    """Decoding frame A's TV with the TI of a frame of another video B: the disk stays where A's is (pose from
    TV), its colour becomes what the model draws for B (appearance from TI); a TI from another frame of A's own
    video changes (almost) nothing."""
    cs, net, _ = trained
    frames = to_tensor(np.array(cs.crops), "cpu")
    bg = to_tensor(np.stack([_background()] * len(cs)), "cpu")
    n = len(cs)
    rng = np.random.default_rng(1)
    same = np.array([rng.choice(np.flatnonzero((cs.group == cs.group[i]) & (np.arange(n) != i))) for i in range(n)])
    other = np.array([rng.choice(np.flatnonzero(cs.group != cs.group[i])) for i in range(n)])
    with torch.no_grad():
        box, tv, ti = net.features(frames)

        def render(ti_rows):
            rgb, mask = net.decode(tv, ti[ti_rows])
            return net.composite(rgb, mask, box, bg), net.uncrop(mask, box)[:, 0]

        own, own_mask = render(np.arange(n))
        swap, swap_mask = render(other)
        within, _ = render(same)
    disks = torch.from_numpy(np.stack([_disk(v, t) for v, t in zip(cs.group, cs.instant)])).float()

    def colour(images):  # mean RGB over each frame's own disk
        return (images * disks[:, None]).sum((2, 3)) / disks.sum((1, 2))[:, None]

    drawn = colour(own)  # what the model draws for each frame
    got = colour(swap)
    to_b = (got - drawn[other]).norm(dim=1)
    to_a = (got - drawn).norm(dim=1)
    assert to_b.mean() < 0.5 * to_a.mean()
    assert (to_b < to_a).float().mean() > 0.6  # not all: the model may still draw two videos' colours alike
    # the swapped disk is where A's is, not where B's is
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")

    def centroid(m):
        w = m.sum((1, 2))
        return torch.stack([(m * xx).sum((1, 2)) / w, (m * yy).sum((1, 2)) / w], 1)

    c_swap, c_a = centroid((swap_mask >= 0.5 * swap_mask.amax((1, 2), keepdim=True)).float()), centroid(disks)
    c_b = c_a[other]
    assert (c_swap - c_a).norm(dim=1).mean() < 0.6 * (c_swap - c_b).norm(dim=1).mean()
    assert (c_swap - c_a).norm(dim=1).mean() < 4.0
    # swapping TI within a video changes the picture far less than swapping across videos
    change_within = (within - own).abs().mean((1, 2, 3))
    change_across = (swap - own).abs().mean((1, 2, 3))
    assert change_across.mean() > 0.01
    assert change_within.mean() < 0.3 * change_across.mean()


# ------------------------------------------------------------------------------------------ phase 2 and metrics

def _crop_set(labelled: np.ndarray) -> CropSet:
    n = len(labelled)
    pose = np.where(labelled[:, None, None], np.ones((n, 17, 3), np.float32), np.nan).astype(np.float32)
    z = np.zeros(n, np.int32)
    return CropSet(np.zeros((n, 4, 4, 3), np.uint8), z, z, z, np.arange(n, dtype=np.int32), pose,
                   np.zeros((n, 3), np.float32), np.arange(n) / FPS, {"groups": ["g"]})


def test_label_rows_take_every_kth_labelled_frame():
    from posecli.train.css import label_rows

    cs = _crop_set(np.arange(40) % 2 == 1)  # the odd rows are labelled
    labelled = np.arange(1, 40, 2)
    assert np.array_equal(label_rows(cs, 1.0), labelled)
    assert np.array_equal(label_rows(cs, 0.25), labelled[::4]) and list(label_rows(cs, 0.25)) == [1, 9, 17, 25, 33]
    assert np.array_equal(label_rows(cs, 0.3), labelled[::3])  # K = round(1 / 0.3) = 3
    assert list(label_rows(cs, 0.001)) == [1]  # at least one frame
    with pytest.raises(InputError, match="no 3D poses"):
        label_rows(_crop_set(np.zeros(5, bool)), 1.0)


def test_pose_head_learns_a_linear_map_of_the_latent():
    from posecli.train.css import predict_poses, relative_poses, train_pose_head

    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 51)) * 0.05
    latent = rng.normal(size=(600, 12)).astype(np.float32) * 3 + 1  # z-scored by the head
    poses = relative_poses((latent @ w).reshape(-1, 17, 3) + np.array([0.0, 0.0, 3.0]))
    assert np.allclose(poses[:, 0], 0)
    head = train_pose_head(latent[:400], poses[:400], steps=60, batch=32)
    pred = predict_poses(head, latent[400:])
    assert pred.shape == (200, 17, 3)
    err = np.linalg.norm(pred - poses[400:], axis=-1).mean()
    mean_pose = np.linalg.norm(poses[:400].mean(0) - poses[400:], axis=-1).mean()
    assert err < 0.35 * mean_pose
    assert np.abs(pred[:, 0]).max() < 0.01  # the pelvis target is always 0


def test_kmeans_accuracy_and_pose_metrics():
    from posecli.train.css import kmeans_accuracy, pose_metrics

    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 5
    labels = np.repeat(np.array(["ann", "bob", "cid"]), 100)
    features = centres[np.repeat(np.arange(3), 100)] + rng.normal(scale=0.3, size=(300, 8))
    assert kmeans_accuracy(features, labels) == 1.0
    shuffled = rng.permutation(labels)  # labels unrelated to the clusters: near chance (1/3)
    assert kmeans_accuracy(features, shuffled) < 0.45
    assert kmeans_accuracy(rng.normal(size=(300, 8)), labels) < 0.5

    truth = np.stack([_toy_pose(0, t) for t in range(10)])
    truth = truth - truth[:, :1]
    assert pose_metrics(truth, truth) == {"n_mpjpe": 0.0, "mpjpe": 0.0, "pa_mpjpe": 0.0, "frames": 10}
    scaled = pose_metrics(1.2 * truth, truth)
    assert scaled["n_mpjpe"] == 0.0 and scaled["pa_mpjpe"] == 0.0 and scaled["mpjpe"] > 10
    shifted = pose_metrics(truth + np.array([0.0, 0.0, 0.05]) * (np.arange(17) % 2)[:, None], truth)
    assert shifted["mpjpe"] == pytest.approx(1000 * 0.05 * 8 / 17, abs=0.1)


# ---------------------------------------------------------------------------------------------------- commands

def _write_video(path, frames: int = 8) -> None:
    from posecli.video import VideoWriter

    with VideoWriter(path, fps=FPS) as w:
        for t in range(frames):
            w.write(np.ascontiguousarray(_toy_frame(2, t)[8:56]))  # 64 x 48: letterboxed by estimate


@pytest.fixture(scope="module")
def css_weights(toy_cache, tmp_path_factory):
    from posecli.cli import main

    out = tmp_path_factory.mktemp("weights") / "css.safetensors"
    code = main(["train", "css", "--data", f"cache:{toy_cache}", "--val", f"cache:{toy_cache}", "--steps", "3",
                 "--pose-steps", "5", "--frame-size", "64", "--width", "8", "--tv-dim", "16", "--ti-dim", "8",
                 "--label-fraction", "0.5", "--seed", "1", "-q", "-o", str(out)])
    assert code == 0
    return out


def test_train_css_writes_weights_card_and_pictures(css_weights, toy_cache):
    import cv2

    card = json.loads(css_weights.with_suffix(".json").read_text())
    assert card["model"] == "CssModel" and card["config"]["variant"] == "full"
    m = card["config"]["model"]
    assert (m["frame_size"], m["width"], m["tv_dim"], m["ti_dim"], m["split"]) == (64, 8, 16, 8, True)
    assert card["config"]["steps"] == 3 and card["pose_steps"] == 5 and card["seed"] == 1
    assert card["supervision"] == {"frames": 144, "videos": 6, "labelled_frames_used": 72}
    held = card["metrics"]["held_out"][f"cache:{toy_cache}"]
    assert held["frames"] == 144 and all(math.isfinite(held[k]) and held[k] > 0
                                         for k in ("n_mpjpe", "mpjpe", "pa_mpjpe"))
    assert held["pa_mpjpe"] <= held["n_mpjpe"] + 1e-6
    final = card["metrics"]["final_train_losses"]
    assert final["step"] == 3 and math.isfinite(final["reconstruction"])
    assert len(card["history"]) == 1
    picture = css_weights.with_name("css_pictures") / "step_000003.png"
    img = cv2.imread(str(picture))
    assert img is not None and img.shape == (4 * 64, 4 * 64, 3)  # 4 videos x (frame, crop, reconstruction, swap)
    assert img.std() > 5


def test_estimate_with_model_css(css_weights, tmp_path):
    from posecli.cli import main
    from posecli.formats import read_poses

    video = tmp_path / "clip.mp4"
    _write_video(video, 8)
    out = tmp_path / "est.npz"
    assert main(["estimate", str(video), "--model", "css", "--weights", str(css_weights), "-q", "-o", str(out)]) == 0
    poses = read_poses(out)
    assert len(poses.tracks) == 1 and (poses.width, poses.height) == (64, 48)
    t = poses.tracks[0]
    kp = t.keypoints["keypoints3d"].points
    assert kp.shape == (8, 17, 3) and np.isfinite(kp).all()
    assert np.array_equal(t.frames, np.arange(8))
    assert np.allclose(kp[:, 0], 0)  # pelvis-centred
    assert np.abs(kp).max() < 5  # metres, a body's size
    box = t.arrays["box_css"]
    assert box.shape == (8, 4) and (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()
    assert poses.meta["css"]["variant"] == "full"
    # the same numbers straight from the model on the letterboxed frames (the paper's inference path)
    from posecli.css.pipeline import load_css
    from posecli.images.crops import crop
    from posecli.video import read_frames

    model, _ = load_css(css_weights)
    frames = np.stack([crop(f.image, frame_square(64, 48), 64) for f in read_frames(video)])
    with torch.no_grad():
        b, latent, _ = model.net.features(to_tensor(frames, "cpu"))
        want = model.head.metres(latent).numpy()
    assert np.allclose(kp, want - want[:, :1], atol=1e-5)
    b = b.numpy()  # normalised (sx, sy, ux, uy) of the 64 px square that holds the 64 x 48 frame
    x0 = 32 + (b[:, 2] - b[:, 0]) * 32
    y0 = 24 + (b[:, 3] - b[:, 1]) * 32
    assert np.allclose(box[:, 0], x0, atol=1e-3) and np.allclose(box[:, 1], y0, atol=1e-3)


def test_bad_css_input_is_one_line(css_weights, toy_cache, tmp_path, capsys):
    from posecli.cli import main
    from posecli.formats import write_poses
    from posecli.poses import Poses

    def one_line_error(args, *needles):
        capsys.readouterr()
        assert main(args) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        for needle in needles:
            assert needle in err, err

    out = tmp_path / "x.safetensors"
    one_line_error(["train", "css", "--data", f"cache:{toy_cache}", "--variant", "bogus", "-o", str(out)],
                   "bogus", "full")
    one_line_error(["train", "css", "--data", f"cache:{toy_cache}", "--positive", "1", "--negative", "0.5", "-o",
                    str(out)], "--negative")
    crops = write_cache(_toy_samples(1, 2), tmp_path / "crops", 32, "toy")  # no "content": "frames"
    one_line_error(["train", "css", "--data", f"cache:{crops}", "-o", str(out)], "person-crop")
    assert not out.exists()
    pose_file = tmp_path / "p.npz"
    write_poses(Poses([], FPS, 64, 48, 1, "x.mp4"), pose_file)
    one_line_error(["estimate", str(pose_file), "--model", "css", "--weights", str(css_weights), "-o",
                    str(tmp_path / "o.npz")], "give the video")
    assert not (tmp_path / "o.npz").exists()
