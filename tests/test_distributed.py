"""Data-parallel training (train.distributed): two gloo processes on loopback train as one process does."""
from __future__ import annotations

import socket
from contextlib import contextmanager

import pytest
import torch
import torch.multiprocessing as mp
from test_estimate_generalise import walking_dataset

from posecli.errors import PoseCliError
from posecli.mocap.dataset import MocapDataset
from posecli.models.prvipe import VipeConfig
from posecli.models.sps_lifter import LifterConfig
from posecli.train.distributed import Group, join
from posecli.train.estimate import EstimateTrainConfig, train_lifter
from posecli.train.vipe import VipeTrainConfig, train_vipe

# SPS-Net (LayerNorm, no BatchNorm) without dropout: nothing differs between one process and two but the order of
# float sums. wocc = 0: the occlusion term's keypoint masks are drawn per rank, for its own slice.
CFG = EstimateTrainConfig(steps=3, batch=8, length=8, lr=3e-3, wocc=0.0, occlusion_camera=False,
                          model=LifterConfig(dim=32, regressor_hidden=32, dropout=0.0, up_head=True))


def _data() -> MocapDataset:
    return walking_dataset()


def _rank(rank: int, size: int, port: int, out: str) -> None:
    _join_env(rank, size, port)
    losses = []
    model = train_lifter(_data(), CFG, on_step=lambda s, logs: losses.append(logs["loss"]))
    torch.save({"state": model.state_dict(), "losses": losses}, f"{out}.{rank}")


def _join_env(rank: int, size: int, port: int) -> None:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)


# Pr-VIPE (BatchNorm: the gloo group's statistics, train.distributed) without dropout; its negatives are mined over
# the whole batch, so this also checks that every rank sees the gathered embeddings.
VIPE = VipeTrainConfig(steps=2, batch=8, lr=0.02, model=VipeConfig(width=32, blocks=1, dropout=0.0, samples=4))


@contextmanager
def watching_gradients(recipe):
    """The averaged gradients of every step a recipe module (``posecli.train.X``) takes while in the block: what
    the ranks agree on, appended to the yielded list (its ``average_gradients`` wrapped)."""
    grads: list[dict] = []
    average = recipe.average_gradients

    def watch(model, group):
        average(model, group)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})

    recipe.average_gradients = watch
    try:
        yield grads
    finally:
        recipe.average_gradients = average


def _train_vipe_watching_gradients() -> tuple[torch.nn.Module, list[dict], list[float]]:
    """Pr-VIPE trained with VIPE; the averaged gradients of every step (what the ranks agree on) and the losses."""
    from posecli.train import vipe

    losses = []
    with watching_gradients(vipe) as grads:
        model = train_vipe(_data(), VIPE, on_step=lambda s, logs: losses.append(logs["loss"]))
    return model, grads, losses


def _vipe_rank(rank: int, size: int, port: int, out: str) -> None:
    _join_env(rank, size, port)
    model, grads, losses = _train_vipe_watching_gradients()
    torch.save({"state": model.state_dict(), "grads": grads, "losses": losses}, f"{out}.{rank}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def one_thread():
    """One torch thread while the test runs (the ranks use one each), restored after it: later tests compare
    this process's float results with fresh worker processes' (tests/test_synth.py), and torch's reductions
    round differently with another thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_gloo_processes_train_to_the_weights_of_one(tmp_path, one_thread):
    alone = train_lifter(_data(), CFG).state_dict()
    out = str(tmp_path / "ddp")
    mp.spawn(_rank, args=(2, _free_port(), out), nprocs=2, join=True)
    r0, r1 = (torch.load(f"{out}.{r}") for r in (0, 1))
    assert len(r0["losses"]) == 3 and r1["losses"] == []  # only rank 0 reports
    for name, value in alone.items():
        torch.testing.assert_close(r0["state"][name], r1["state"][name], rtol=0, atol=0)  # replicas in step
        if name == "fuse.bias":  # cancels in the fusion's softmax: its true gradient is 0, Adam scales up noise
            continue
        torch.testing.assert_close(r0["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)  # = one process


def test_two_gloo_processes_give_pr_vipe_the_gradient_of_one(tmp_path, one_thread):
    """The first step's averaged gradient equals one process's (group batch norm, gathered negatives). Later
    steps are not compared: Adagrad's first step is lr * sign(g), which turns a weight whose true gradient is
    ~0 (a bias before batch norm, 1e-8) into a full step either way, so float order alone moves it."""
    _, grads, losses = _train_vipe_watching_gradients()
    out = str(tmp_path / "vipe")
    mp.spawn(_vipe_rank, args=(2, _free_port(), out), nprocs=2, join=True)
    r0, r1 = (torch.load(f"{out}.{r}") for r in (0, 1))
    assert r1["losses"] == [] and r0["losses"][0] == pytest.approx(losses[0], rel=1e-5)
    for name, g in grads[0].items():
        torch.testing.assert_close(r0["grads"][0][name], g, rtol=1e-4, atol=2e-5, msg=name)
    for step in range(VIPE.steps):  # the replicas stay in step
        for name in grads[0]:
            torch.testing.assert_close(r0["grads"][step][name], r1["grads"][step][name], rtol=0, atol=0)
    for name, value in r0["state"].items():
        torch.testing.assert_close(r1["state"][name], value, rtol=0, atol=0)


def test_a_group_of_one_and_the_batch_split(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert join("cpu", 7) == Group(0, 1, "cpu")
    g = Group(1, 4, "cpu")
    assert g.shard(32) == slice(8, 16) and not g.main
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(PoseCliError, match="does not split into 3"):
        join("cpu", 32)


# Amodal completion (LSTMs, no BatchNorm, no dropout): four optimisers over three phases, noise for the whole batch
# (each rank takes its rows) and masked means normalised by the whole batch's count.
AMODAL_STEPS = 8  # phases 0 / 1 / 2: 1 / 4 / 3 steps, 2 critic updates per phase-2 step


def _amodal_cfg():
    from posecli.models.amodal import AmodalConfig
    from posecli.train.amodal import AmodalTrainConfig

    return AmodalTrainConfig(steps=AMODAL_STEPS, batch=4, model=AmodalConfig(
        hidden=16, frame_dim=32, pose_hidden=32, pose_latent=8, zu_dim=8, zm_dim=16, critic_dim=16))


def _amodal_rank(rank: int, size: int, port: int, out: str) -> None:
    from posecli.train.amodal import train_amodal

    _join_env(rank, size, port)
    losses = []
    model = train_amodal(_data(), _amodal_cfg(), on_step=lambda s, logs: losses.append(logs))
    torch.save({"state": model.state_dict(), "losses": losses}, f"{out}.{rank}")


def test_two_gloo_processes_train_amodal_completion_as_one(tmp_path, one_thread):
    from posecli.train.amodal import train_amodal

    alone = train_amodal(_data(), _amodal_cfg()).state_dict()
    out = str(tmp_path / "amodal")
    mp.spawn(_amodal_rank, args=(2, _free_port(), out), nprocs=2, join=True)
    r0, r1 = (torch.load(f"{out}.{r}") for r in (0, 1))
    assert [int(logs["phase"]) for logs in r0["losses"]] == [0, 1, 1, 1, 1, 2, 2, 2] and r1["losses"] == []
    for name, value in alone.items():
        torch.testing.assert_close(r0["state"][name], r1["state"][name], rtol=0, atol=0)  # replicas in step
        torch.testing.assert_close(r0["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)  # = one process


def test_amodal_adaptation_under_torchrun_is_one_clear_error(monkeypatch):
    from dataclasses import replace

    from posecli.train.amodal import train_amodal

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(PoseCliError, match="--adapt runs in one process"):
        train_amodal(_data(), replace(_amodal_cfg(), adapt_steps=4), adapt=[{"points": None}])


# MCSS (a ResNet: BatchNorm over the gloo group) on toy multi-view crops: regression crops shared 3 : 2 between the
# two processes (5 does not halve), pairs halved, embeddings gathered for the hard-negative metric loss.
def _mcss_cfg():
    from test_mcss import TINY

    from posecli.train.mcss import McssTrainConfig

    return McssTrainConfig(steps=3, groups=2, pairs=6, regression_batch=5, lr=2e-3, seed=0, model=TINY)


def _train_mcss_watching_gradients(cache: str) -> dict:
    from posecli.images.cache import load_cache
    from posecli.train import mcss

    with watching_gradients(mcss) as grads:
        model, history = mcss.train_mcss(load_cache(cache), _mcss_cfg(), log_every=1)
    return {"state": model.state_dict(), "grads": grads, "history": history}


def _recipe_rank(rank: int, size: int, port: int, out: str, train: str, *args) -> None:
    """One of two processes: ``train``, the name of one of this module's ``_train_*_watching_gradients``, run on
    ``args``, its result saved for the test to compare."""
    _join_env(rank, size, port)
    torch.save(globals()[train](*args), f"{out}.{rank}")


def _spawn_two(tmp_path, train: str, *args) -> tuple[dict, dict]:
    out = str(tmp_path / "rank")
    mp.spawn(_recipe_rank, args=(2, _free_port(), out, train, *args), nprocs=2, join=True)
    return tuple(torch.load(f"{out}.{r}") for r in (0, 1))


def _assert_in_step(r0: dict, r1: dict) -> None:
    """The two processes' averaged gradients (every step) and final weights are the same to the bit."""
    for g0, g1 in zip(r0["grads"], r1["grads"], strict=True):
        for name, g in g0.items():
            torch.testing.assert_close(g1[name], g, rtol=0, atol=0)
    for name, value in r0.get("state", {}).items():
        torch.testing.assert_close(r1["state"][name], value, rtol=0, atol=0)


def test_two_gloo_processes_give_mcss_the_gradient_of_one(tmp_path, one_thread):
    """Every step's averaged gradient equals one process's (batch norm over the group, gathered embeddings,
    the augmentation drawn for the whole batch, the pose loss weighed by each share's size)."""
    from test_mcss import _toy_samples

    from posecli.images.cache import write_cache

    cache = tmp_path / "toy"
    write_cache(_toy_samples(12), cache, 48, "toy")
    alone = _train_mcss_watching_gradients(str(cache))
    r0, r1 = _spawn_two(tmp_path, "_train_mcss_watching_gradients", str(cache))
    assert r0["history"][0]["metric_loss"] == pytest.approx(alone["history"][0]["metric_loss"], rel=1e-4)  # gathered
    _assert_in_step(r0, r1)
    for step, grads in enumerate(alone["grads"]):
        for name, g in grads.items():
            torch.testing.assert_close(r0["grads"][step][name], g, rtol=1e-3, atol=1e-4, msg=f"{step} {name}")
    for name, value in alone["state"].items():
        torch.testing.assert_close(r0["state"][name].float(), value.float(), rtol=1e-3, atol=1e-4, msg=name)


# CSS phase 1 (BatchNorm over the gloo group; dropout off, its masks are each process's own): videos halved between
# the two processes, the colour jitter drawn for the whole batch, the box prior on the gathered boxes.
def _css_cfg():
    from test_css import TINY

    from posecli.train.css import CssTrainConfig, model_config

    # 24-px crops: a new model's box is the centred half frame, from which 32-px crops of 64-px frames sample
    # exactly at pixel centres, where the bilinear warp's gradient with respect to the box jumps
    return CssTrainConfig(variant="full", steps=2, groups=4, lr=3e-3, positive=0.2, negative=1.0, seed=0,
                          model=model_config("full", **{**TINY, "dropout": 0.0, "crop_size": 24}))


def _train_css_watching_gradients(cache: str) -> dict:
    import numpy as np
    from test_css import _background

    from posecli.images.cache import load_cache
    from posecli.train import css

    with watching_gradients(css) as grads:
        net, history = css.train_ssl(load_cache(cache), np.stack([_background()] * 6), _css_cfg(), log_every=1)
    return {"state": net.state_dict(), "grads": grads, "history": history}


def test_two_gloo_processes_give_css_the_gradient_of_one(tmp_path, one_thread):
    """The first step's averaged gradient equals one process's; the second step's box prior (the first boxes
    are the centred half frame for every frame, and the prior's gradient there is 0) is the whole batch's; the
    replicas stay in step. Later gradients are not compared with one process: Adam's first steps turn gradients
    near 0 into steps of about the learning rate either way, and the box's gradient through the bilinear warps
    jumps where a sample crosses a pixel edge (torch's CPU batch norm is itself 1e-4 off a float64 one here,
    the all-reduced one 1e-6)."""
    from test_css import SIZE, _toy_samples

    from posecli.images.cache import write_cache

    cache = tmp_path / "frames"
    write_cache(_toy_samples(), cache, SIZE, "toy", {"content": "frames", "pose_frame": "camera"})
    alone = _train_css_watching_gradients(str(cache))
    r0, r1 = _spawn_two(tmp_path, "_train_css_watching_gradients", str(cache))
    for name, g in alone["grads"][0].items():
        torch.testing.assert_close(r0["grads"][0][name], g, rtol=1e-3, atol=1e-6, msg=name)
    box = alone["history"][1]["box"]
    assert box > 0.1 and r0["history"][1]["box"] == pytest.approx(box, rel=1e-3)
    _assert_in_step(r0, r1)


def test_only_rank_0_builds_a_shared_cache_and_the_others_wait(monkeypatch, tmp_path):
    import threading

    from posecli.train import distributed

    made = tmp_path / "cache"
    monkeypatch.setattr(distributed.time, "sleep", lambda s: None)
    checks = []

    def done():  # rank 0 (another process) finishes after the third look
        checks.append(1)
        if len(checks) == 3:
            made.mkdir()
        return made.is_dir()

    monkeypatch.setenv("RANK", "1")
    distributed.main_first(lambda: pytest.fail("rank 1 must not build"), done)
    assert made.is_dir() and len(checks) == 3
    monkeypatch.setenv("RANK", "0")
    built = threading.Event()
    distributed.main_first(built.set, lambda: pytest.fail("rank 0 does not wait"))
    assert built.is_set()


# The person detector (BlazePose's, fine-tuned): crops halved between the processes, the focal and box losses
# divided by the whole batch's positives.
def _detector_crops(folder: str):
    from posecli.train.detector_data import build_crops

    return build_crops([folder], 3, 1, 0, lambda n=1: None)


def _train_detector_watching_gradients(folder: str) -> dict:
    from posecli.train import detector

    logs = []
    with watching_gradients(detector) as grads:
        module, _ = detector.train_detector(_detector_crops(folder), detector.DetectorConfig(steps=2, batch=4, lr=1e-3),
                                            on_step=lambda s, l_: logs.append(l_))
    return {"state": module.state_dict(), "grads": grads, "logs": logs}


def test_two_gloo_processes_give_the_detector_the_gradient_of_one(tmp_path, one_thread):
    from test_detector_training import make_detector_dataset

    folder = tmp_path / "synth"
    make_detector_dataset(folder)
    alone = _train_detector_watching_gradients(str(folder))
    r0, r1 = _spawn_two(tmp_path, "_train_detector_watching_gradients", str(folder))
    assert len(r0["logs"]) == 2 and r1["logs"] == []  # only rank 0 reports
    for name, g in alone["grads"][0].items():
        torch.testing.assert_close(r0["grads"][0][name], g, rtol=1e-3, atol=1e-6, msg=name)
    _assert_in_step(r0, r1)
