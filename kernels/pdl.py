"""Programmatic dependent launch (Hopper and later) for the decode kernels.

A kernel launched with it may start while the kernel before it in the stream is still running,
and waits for that kernel's results itself (`griddepcontrol.wait`). At batch 1 a decode step is
~300 kernels of 2-17 us with ~1 us between dependent kernels of the graph; with it the next
kernel's programs are resident and waiting when the previous one ends (batch-1 step on the H200:
2.38 -> 2.17 ms, docs/benchmarks.md).

Every kernel here that takes `PDL` keeps one protocol, so that a kernel may rely on more than
its direct predecessor: each program waits (`wait_prior`) before it loads anything the previous
kernel wrote and before it stores anything, and only then lets the next kernel launch. So when a
kernel starts, the kernel two back has finished: what that one or an earlier one wrote (the
Mamba state of the step before) may be read before the wait, as may the weights. The norms, the
decode gate and the state update do so; the GEMVs wait first (loading their first weight tile
before the wait measured no faster). A kernel launched without it (torch's, cuBLAS') starts after
everything before it. `HYBRIDSERVE_PDL=0` turns it off (the before/after benchmarks).

Letting the next kernel launch before the wait instead, with nothing of the forward read before
any wait, measured slower at batch 1 (2.07 against 2.02 ms on the H200, docs/benchmarks.md,
twelfth session): the shared expert's up rows, which read x early under this protocol, then
wait for the gate.
"""

from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl


@functools.cache
def _enabled(device_index: int) -> bool:
    on = os.environ.get("HYBRIDSERVE_PDL", "1") != "0"
    return on and torch.cuda.get_device_capability(device_index)[0] >= 9


def launch_args(x: torch.Tensor) -> dict[str, bool]:
    """Keywords for a kernel call: the kernel's `PDL` constexpr, and Triton's `launch_pdl`
    where the device has it (none on CPU, where the interpreter runs the kernels)."""
    if x.is_cuda and _enabled(x.get_device()):
        return {"PDL": True, "launch_pdl": True}
    return {"PDL": False}


@triton.jit
def wait_prior(PDL: tl.constexpr):
    """Wait until the previous kernel has finished and its writes are visible, then let the
    next kernel launch (a no-op without `PDL`)."""
    if PDL:
        tl.extra.cuda.gdc_wait()
        tl.extra.cuda.gdc_launch_dependents()
