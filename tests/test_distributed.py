"""Data-parallel training (train.distributed): two gloo processes on loopback train as one process does."""
from __future__ import annotations

import socket

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


def _train_vipe_watching_gradients() -> tuple[torch.nn.Module, list[dict], list[float]]:
    """Pr-VIPE trained with VIPE; the averaged gradients of every step (what the ranks agree on) and the losses."""
    from posecli.train import vipe

    grads, losses = [], []
    average = vipe.average_gradients

    def watch(model, group):
        average(model, group)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})

    vipe.average_gradients = watch
    try:
        model = train_vipe(_data(), VIPE, on_step=lambda s, logs: losses.append(logs["loss"]))
    finally:
        vipe.average_gradients = average
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
