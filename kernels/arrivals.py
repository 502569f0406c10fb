"""Arrival counts: a kernel whose last program to finish does a step over what all of its
programs stored (the gate's top-k over a token's logits, a gated norm over a group of heads),
in place of a second kernel on the decode step's critical path.

Each program stores its part, then `arrive`s; the one that arrives last sees every store the
others made before arriving (their barrier and acq_rel atomic, then its acquire: the
arrive/wait of CUTLASS' GenericBarrier), does the step and `reset`s the count for the next
launch or graph replay.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl


@functools.cache
def counts(device: torch.device, purpose: str, size: int) -> torch.Tensor:
    """`size` zeroed counts on `device` for one kernel (`purpose`); the kernels that use them run
    on one stream, one after another. Made on first use, which must not be inside a CUDA graph
    capture (the engine runs every batch size eagerly before capturing it)."""
    assert device.type != "cuda" or not torch.cuda.is_current_stream_capturing()
    return torch.zeros(size, dtype=torch.int32, device=device)


@triton.jit
def arrive(count_ptr, programs):
    """Whether this program is the last of `programs` to arrive at `count_ptr` (after its own
    stores; reads of the others' stores should bypass L1: `cache_modifier=".cg"`)."""
    tl.debug_barrier()
    return tl.atomic_add(count_ptr, 1, sem="acq_rel") == programs - 1


@triton.jit
def reset(count_ptr):
    """Zero the count again (by the last program, once it is done)."""
    tl.atomic_xchg(count_ptr, 0)
