"""Data-parallel training under ``torchrun``, for every ``posecli train`` recipe (``amodal --adapt`` excepted).

    torchrun --nproc-per-node 4 -m posecli train estimate --data cmu:../shared/data/mocap -o lifter.safetensors

torchrun starts one process per GPU (or per CPU share) and sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR /
MASTER_PORT; :func:`join` reads them (a plain run is a group of one and changes nothing). Backends: NCCL for
CUDA (rank r uses GPU LOCAL_RANK), gloo on CPUs.

How the global batch is split, so that the result does not depend on the number of processes: every rank draws
the *same* global batch from the same seeded sampler and trains on its own equal slice of it; the gradients are
averaged over the ranks after each backward pass (one all-reduce of all of them, :func:`average_gradients`),
which for a loss that is a mean over the batch equals the single-process gradient of the whole batch. Not
torch's DistributedDataParallel wrapper: SPS-Net's loss runs the model three times before one backward pass
(two shifted clips and an occluded one), which DDP's per-forward bookkeeping does not allow.
Drawing the whole batch on every rank repeats the (numpy) sampling work; it is the price of identical results
(sampling ~0.1 s a batch, against a GPU step of a few hundredths: the sampler, not the GPU, bounds training
speed in either case, docs/benchmarks.md). BatchNorm layers (the TCN's, Pr-VIPE's) normalise over the global
batch: converted to SyncBatchNorm on CUDA; torch has no SyncBatchNorm on CPU, so with gloo their forward is
replaced by :func:`_group_batch_norm` (the batch's sums all-reduced, with autograd). Losses that compare samples
across the batch (Pr-VIPE's and MCSS's negatives, CSS's box prior) see the whole batch through
:func:`gather_rows`; random draws are made for the whole batch and each rank takes its rows; a masked mean or a
loss over a count of positives divides by the whole batch's count (:func:`group_mean`); decisions from a clock
are rank 0's (:func:`main_decides`) and files every process reads are made by rank 0 (:func:`main_first`).
Dropout masks come from each rank's own random stream (the one difference left). Without dropout the recipes
give one process's gradients, up to float summation order (``tests/test_distributed.py``). Only rank 0 reports
progress and writes.
"""
from __future__ import annotations

import os
import time
import types
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_autograd
from torch.nn import functional as F

from ..errors import PoseCliError

# torch 2.13 marks these autograd collectives deprecated in favour of a private module (_functional_collectives);
# they are what the public API offers for gradients through a collective, so the notice is silenced, not acted on.
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.", category=FutureWarning)


@dataclass(frozen=True)
class Group:
    rank: int = 0
    size: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: int) -> slice:
        """This rank's rows of a global batch (equal slices: the batch must divide by the group's size)."""
        per = batch // self.size
        return slice(self.rank * per, (self.rank + 1) * per)


ALONE = Group()  # a plain run's group of one


def join(device: str, batch: int | None) -> Group:
    """The process group torchrun describes in the environment (a group of one without it); ``batch``, when
    given, must split into equal parts, one per process."""
    size = process_count()
    if size <= 1:
        return Group(0, 1, device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if batch is not None and batch % size:
        raise PoseCliError(f"--batch {batch} does not split into {size} equal parts (one per process)",
                           f"use a batch that is a multiple of {size}")
    if device.startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=rank, world_size=size)
    return Group(rank, size, device)


def prepare(model: torch.nn.Module, group: Group) -> torch.nn.Module:
    """The model as this rank trains it: rank 0's initial weights everywhere, SyncBatchNorm on CUDA."""
    if group.size == 1:
        return model
    if group.device.startswith("cuda"):
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    else:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                # the forward replaced, not the module: parameter names (and so the saved weights) stay
                m.forward = types.MethodType(_group_batch_norm, m)
    for t in (*model.parameters(), *model.buffers()):
        dist.broadcast(t.data, 0)
    return model


def _group_batch_norm(bn: torch.nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """A BatchNorm layer's forward with the batch statistics of every rank's slice (gloo; SyncBatchNorm's job on
    CUDA): sums and counts, then squared deviations from the mean, all-reduced with autograd; biased variance to
    normalise and the unbiased one for the running average, as BatchNorm does."""
    if not bn.training:
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    dims = [0, *range(2, x.dim())]
    c = x.shape[1]
    shape = [1, c] + [1] * (x.dim() - 2)
    count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
    total = dist_autograd.all_reduce(torch.cat([x.sum(dims), count]))
    n = total[-1]
    mean = total[:c] / n
    # the variance from the deviations (a second all-reduce), not E[x^2] - mean^2, which cancels catastrophically
    # in float32 for a channel whose mean is large against its spread (mean 1000, spread 0.01: negative variances)
    var = dist_autograd.all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / n
    with torch.no_grad():
        bn.num_batches_tracked += 1
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(m * mean.detach())
        bn.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps)
    return y * bn.weight.view(shape) + bn.bias.view(shape) if bn.affine else y


def gather_rows(t: torch.Tensor, group: Group, blocks: int = 1) -> torch.Tensor:
    """The global batch's rows from every rank's own rows ``t`` (its :meth:`Group.shard` of each of ``blocks``
    equal consecutive blocks, e.g. anchors then positives), in the global order, with autograd (the gradient
    of each rank's loss flows back to the rank that computed the rows)."""
    if group.size == 1:
        return t
    pieces = dist_autograd.all_gather(t)
    n = len(t) // blocks
    return torch.cat([p[b * n:(b + 1) * n] for b in range(blocks) for p in pieces])


def group_mean(t: torch.Tensor, group: Group) -> torch.Tensor:
    """The mean over the ranks of a value each computed on its own slice (no autograd: for normalisers). A
    loss ``sum / group_mean(count)`` on every rank, once the gradients are averaged, is the whole batch's
    ``sum / count``: what a masked mean needs, whose count differs between slices."""
    if group.size == 1:
        return t
    t = t.detach().clone()
    dist.all_reduce(t)
    return t / group.size


def average_gradients(model: torch.nn.Module | Iterable[torch.nn.Parameter], group: Group) -> None:
    """Every parameter's gradient replaced by its mean over the ranks (one flat all-reduce): a model's
    parameters that require a gradient, or the given ones (a recipe with one optimiser per part of its model)."""
    if group.size == 1:
        return
    params = [p for p in (model.parameters() if isinstance(model, torch.nn.Module) else model) if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.size
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def main_decides(flags: list[bool], group: Group) -> list[bool]:
    """Rank 0's flags on every rank (decisions from a clock, e.g. a time limit, which would differ per rank and
    leave one rank waiting in a collective the others no longer make)."""
    if group.size == 1:
        return flags
    t = torch.tensor(flags, dtype=torch.uint8, device=group.device)
    dist.broadcast(t, 0)
    return [bool(v) for v in t.tolist()]


def main_first(make: Callable[[], None], done: Callable[[], bool]) -> None:
    """``make()`` a file every process reads (a crop or frame cache); under torchrun rank 0 makes it and the
    others wait until ``done()`` (polling: a barrier would time out on a long build; if rank 0 fails, torchrun
    stops them)."""
    if is_main_process():
        make()
        return
    while not done():
        time.sleep(2)


def leave(group: Group) -> None:
    if group.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def process_count() -> int:
    """How many processes torchrun started (1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0, or not under torchrun: the process that reports, evaluates and writes."""
    return int(os.environ.get("RANK", "0")) == 0
