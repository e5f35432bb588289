"""Distributed data-parallel set-up for ``torchrun --nproc_per_node=N train.py``.

Without torchrun's environment (WORLD_SIZE unset or 1) everything here is a no-op, so the same
training code runs on one device. Gloo serves CPUs, NCCL serves GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int
    world: int
    device: torch.device


def init() -> DistContext:
    """Join the process group torchrun describes (if any) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, torch.device("cpu"))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return DistContext(rank, world, device)


def wrap(model: nn.Module, context: DistContext) -> nn.Module:
    """DistributedDataParallel around ``model`` when running on several processes."""
    if context.world <= 1:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def barrier(context: DistContext) -> None:
    """Wait for every rank (no-op on one process)."""
    if context.world > 1:
        torch.distributed.barrier()


def shutdown(context: DistContext) -> None:
    """Leave the process group (no-op on one process)."""
    if context.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
