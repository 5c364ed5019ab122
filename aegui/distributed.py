"""Training in several processes: which process this is, and the few collectives training needs.

``aegui train`` run by ``torchrun`` (which sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``
in each process it starts) joins a process group: gloo when training on the CPU, NCCL on
GPUs, one GPU per process (``cuda:LOCAL_RANK``). Without torchrun there is one process and
nothing here touches ``torch.distributed``: ``SINGLE`` answers every question locally.

How the work is shared (see ``aegui.train``): every process holds the whole data set and
draws the same order of it each epoch (a permutation seeded by seed and epoch); each batch
of ``batch_size`` images is split between the processes, each trains on its share, and
DistributedDataParallel sums the gradients so that the update is the one a single process
would make on the whole batch. Only rank 0 writes checkpoints and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["SINGLE", "Group", "from_environment", "shutdown"]


@dataclass(frozen=True)
class Group:
    """The processes training together, seen from one of them."""

    rank: int = 0          # this process, 0 .. world_size - 1, over all machines
    world_size: int = 1
    local_rank: int = 0    # this process on its machine: its GPU

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """The one process that writes checkpoints and prints progress."""
        return self.rank == 0

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This process's share of a batch: every ``world_size``-th index from ``rank``
        (shares differ in size by at most one; one may be empty)."""
        return indices[self.rank::self.world_size] if self.distributed else indices

    def mean(self, value: torch.Tensor) -> float:
        """The mean over the processes of a scalar each holds (itself when alone)."""
        if not self.distributed:
            return value.item()
        total = value.detach().reshape(1).clone()
        torch.distributed.all_reduce(total)
        return total.item() / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is true on any: they stop together."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module to run forward passes through: DDP across processes, else the model."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def device(self, requested: torch.device) -> torch.device:
        """Each process on a machine takes its own GPU: ``cuda:LOCAL_RANK``."""
        if requested.type == "cuda" and self.distributed:
            if self.local_rank >= torch.cuda.device_count():
                raise ValueError(f"process {self.local_rank} on this machine has no GPU of its own "
                                 f"({torch.cuda.device_count()} visible): start at most that many per "
                                 f"machine (torchrun --nproc-per-node)")
            return torch.device("cuda", self.local_rank)
        return requested


SINGLE = Group()


def from_environment(device: torch.device) -> Group:
    """The group this process belongs to: joined when torchrun started it with a world of
    more than one process (gloo for the CPU, NCCL for CUDA), else ``SINGLE``."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    group = Group(rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_available():
        raise ValueError("this torch was built without torch.distributed: train in one process")
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(group.device(device))
        torch.distributed.init_process_group(backend=backend)
    return group


def shutdown(group: Group) -> None:
    """Leave the process group (no-op when alone)."""
    if group.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
