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


# A flag is polled by thousands of programs at once: kept in this many copies, one 128-byte line
# each, so that the polls spread over as many L2 slices instead of queueing at one.
FLAG_COPIES, FLAG_STRIDE = tl.constexpr(64), tl.constexpr(32)


def flag(device: torch.device, purpose: str) -> torch.Tensor:
    """A zeroed flag for `signal` / `await_flag` (see `counts` for where it may be made)."""
    return counts(device, purpose, FLAG_COPIES.value * FLAG_STRIDE.value)


def flag_copies(flag: torch.Tensor) -> torch.Tensor:
    """The `flag`'s copies, a view (set or read from the host side)."""
    return flag.view(-1, FLAG_STRIDE.value)[:, 0]


@triton.jit
def signal(flag_ptr):
    """Set a `flag` that another kernel's programs `await_flag` on."""
    copies = tl.arange(0, FLAG_COPIES) * FLAG_STRIDE
    tl.atomic_xchg(flag_ptr + copies, 1, sem="release")


@triton.jit
def clear(flag_ptr):
    """Zero a `flag` again, once nothing awaits it."""
    copies = tl.arange(0, FLAG_COPIES) * FLAG_STRIDE
    tl.atomic_xchg(flag_ptr + copies, 0)


@triton.jit
def await_flag(flag_ptr, program):
    """Spin (with a short sleep between polls) until `signal` has set the flag, then see what
    the signaller had seen. Only for a flag whose signaller is already resident (launched
    earlier in the stream, its programs started): the spinning program then cannot hold the SM
    the signaller needs."""
    copy = flag_ptr + (program % FLAG_COPIES) * FLAG_STRIDE
    while tl.load(copy, volatile=True) == 0:
        tl.inline_asm_elementwise(
            "nanosleep.u32 200; mov.u32 $0, 0;", "=r", [], dtype=tl.int32, is_pure=False, pack=1
        )
    tl.atomic_add(copy, 0, sem="acquire")
