"""Process setup of a training run: the device, DDP under `torchrun`, mixed precision."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from masa.errors import InputError
from masa.pipeline import resolve_device

__all__ = ["Dist", "resolve_device", "setup_distributed", "amp_dtype"]


@dataclass(frozen=True)
class Dist:
    """This process in a (possibly distributed) run."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device


def setup_distributed(device: str) -> Dist:
    """One process, or DDP from torchrun's RANK / LOCAL_RANK / WORLD_SIZE (NCCL on CUDA, else
    gloo); under DDP on CUDA the device is cuda:LOCAL_RANK."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(0, 0, 1, resolve_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, local, world, dev)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: "auto" is bf16 on CUDA where supported (else fp16), off on CPU.

    Raises:
        InputError: an unknown setting, or bf16/fp16 asked for off CUDA.
    """
    if amp not in ("auto", "bf16", "fp16", "none"):
        raise InputError(f"amp must be auto, bf16, fp16 or none, got {amp!r}")
    if amp == "none" or (amp == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise InputError(f"--amp {amp} needs a CUDA device (got {device})")
    if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16
