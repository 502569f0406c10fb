"""Programmatic dependent launch (Hopper and later) for the decode kernels.

A kernel launched with it may start while the kernel before it in the stream is still running,
and waits for that kernel's results itself (`griddepcontrol.wait`). At batch 1 a decode step is
~300 kernels of 2-17 us with ~1 us between dependent kernels of the graph; with it the next
kernel's programs are resident and waiting when the previous one ends (batch-1 step on the H200:
2.38 -> 2.17 ms, docs/benchmarks.md).

Every kernel here that takes `PDL` keeps one protocol: each program first lets the next kernel
launch, then waits (`wait_prior`) before it loads anything this forward wrote and before it
stores anything. Before the wait it may read only what no kernel of the forward writes: the
weights, the step's inputs (slots, copied in before the forward) and the Mamba state that the
step before wrote (a forward ends in kernels launched without PDL, torch's and cuBLAS', which
start after everything before them). So a kernel's programs are resident, their weights
loading, while the kernel before it still waits for its own predecessor: on the H200 the
batch-1 step went 2.02 -> 1.86 ms against letting the next kernel launch only after the wait
(docs/benchmarks.md, twelfth session). After the wait, everything before has finished: each
kernel's wait ends when its predecessor has, which waited in turn. The norms, the decode gate and
the state update load their weights or state before the wait; the GEMVs wait first (loading
their first weight tile before the wait measured no faster). `HYBRIDSERVE_PDL=0` turns it off
(the before/after benchmarks).
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
    """Let the next kernel launch, then wait until the previous kernel has finished and its
    writes are visible (a no-op without `PDL`)."""
    if PDL:
        tl.extra.cuda.gdc_launch_dependents()
        tl.extra.cuda.gdc_wait()
