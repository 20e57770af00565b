"""Running under ``torchrun``: the process group, this process's device, and the few collectives the trainer
needs. Without torchrun (no ``WORLD_SIZE`` in the environment, or a world of 1) everything here is a no-op,
so ``vargym train`` and ``torchrun --nproc-per-node 1 -m vargym train`` are the same program.

The backend is NCCL on CUDA and gloo on CPU. Collectives time out after ``VARGYM_DIST_TIMEOUT`` seconds
(default 600): when a rank dies, the others stop with an error instead of waiting forever (torchrun's agent
also tears the job down when a worker exits with an error).
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass

import torch

__all__ = ["Distributed", "setup_distributed", "shutdown_distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def device(self, requested: str | None) -> str | None:
        """The device of this rank: ``cuda:<local_rank>`` when CUDA is requested or available, else as given."""
        if not self.enabled:
            return requested
        if (requested is None and torch.cuda.is_available()) or (requested or "").startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return requested or "cpu"

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's ``tensor`` (same shape on each) along dim 0, in rank order."""
        if not self.enabled:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def setup_distributed(device: str | None = None) -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment (once per process); NCCL when
    ``device`` is CUDA (or None with CUDA available), else gloo.

    Raises:
        RuntimeError: the environment names a world but the process group cannot be formed.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        timeout = datetime.timedelta(seconds=float(os.environ.get("VARGYM_DIST_TIMEOUT", "600")))
        cuda = (device is None and torch.cuda.is_available()) or str(device).startswith("cuda")
        backend = "nccl" if cuda else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend=backend, timeout=timeout)
        atexit.register(_teardown)
    return Distributed(rank=rank, world_size=world, local_rank=local_rank)


def _teardown() -> None:
    """Leave the process group together: every rank waits for the others, then destroys it (a gloo group
    torn down by the interpreter while a peer still talks to it can abort the process)."""
    if torch.distributed.is_initialized():
        try:
            torch.distributed.barrier()
        finally:
            torch.distributed.destroy_process_group()


def shutdown_distributed() -> None:
    """Leave the process group now (all ranks must call it); a no-op without one."""
    _teardown()
