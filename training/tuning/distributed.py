"""Training with several processes: `accelerate launch --num_processes N -m training train`.

Each process trains on its share of every batch (the Trainer runs DDP: gloo on CPU, NCCL on
GPUs). Process 0 alone creates and writes the run folder, prints progress, evaluates and
publishes; the others learn the run's name from it and end once training has ended. The
launcher sets RANK and WORLD_SIZE; a plain `python -m training` is process 0 of 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def rank() -> int:
    """Return this process's number (0 when not launched with several)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Return how many processes train together."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Say whether this process writes the run folder and reports progress."""
    return rank() == 0


def from_main(make: Callable[[], T]) -> T:
    """Run `make` in process 0 and return its result (or raise its error) in every process.

    How the processes agree on one run folder: process 0 creates it, the others get its path.
    """
    if world_size() == 1:
        return make()
    import torch.distributed as dist
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # The process group the Trainer will use (gloo with --cpu, NCCL on GPUs), set up early.
    PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    box: list[object] = [None]
    if is_main():
        try:
            box[0] = ("ok", make())
        except Exception as e:  # sent to the others, then raised here as well
            box[0] = ("error", e)
    dist.broadcast_object_list(box, src=0)
    outcome, value = box[0]  # type: ignore[misc]
    if outcome == "error":
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]
