"""Timing and error helpers of the kernel benchmark (bench/kernels.py): CUDA-event medians, CUDA
graph replay time, relative errors, and the result table."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch


class Row(NamedTuple):
    kernel: str
    shape: str
    max_abs: float
    rel: float
    bound: float
    ref_us: float  # eager, host launch overhead included
    ref_graph_us: float  # CUDA graph replay (nan: the reference cannot be captured)
    triton_us: float
    triton_graph_us: float
    gbytes: float  # bytes the call must move, in GB


def poison() -> None:
    """Fill freed device memory with NaN before a Triton run, so an unwritten output shows."""
    torch.empty(64 << 20, dtype=torch.bfloat16, device="cuda").fill_(float("nan"))


def median_us(fn: Callable[[], object], reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    return sorted(times)[len(times) // 2]


def graph_us(fn: Callable[[], object], reps: int, calls: int = 10) -> float:
    """GPU time of one call: `calls` calls captured in a CUDA graph, replayed; nan if the call
    cannot be captured (it synchronises with the host)."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(calls):
                fn()
    except RuntimeError:
        torch.cuda.synchronize()
        return float("nan")
    return median_us(graph.replay, reps) / calls


def rotating(fns: Sequence[Callable[[], object]]) -> Callable[[], object]:
    """A call that runs the next of `fns` in turn. Given the same call on copies of its weights
    that together exceed the L2 cache (H100/H200: 50 MB), each call reads its weights from HBM
    as a model's decode step does; a 20 MB weight timed alone stays in L2 and reads ~1.5x too
    fast."""
    turn = itertools.cycle(fns)
    return lambda: next(turn)()


def copies_beyond_l2(nbytes: int, l2_bytes: int = 50 << 20) -> int:
    """How many copies of `nbytes` of weights `rotating` needs: over three times the L2."""
    return max(2, -(-3 * l2_bytes // nbytes))


def errors(out: torch.Tensor, want: torch.Tensor) -> tuple[float, float]:
    if not torch.isfinite(out).all():
        return float("nan"), float("nan")
    diff = out.double() - want.double()
    rel = diff.norm() / want.double().norm().clamp_min(1e-30)
    return diff.abs().max().item(), rel.item()


def row(
    name: str,
    shape: str,
    out: torch.Tensor,
    want: torch.Tensor,
    bound: float,
    ref_fn: Callable[[], object],
    tri_fn: Callable[[], object],
    nbytes: int,
    reps: int,
    ref_graph: bool = True,
) -> Row:
    max_abs, rel = errors(out, want)
    ref_reps = max(3, reps // 5)
    ref_g = graph_us(ref_fn, ref_reps) if ref_graph else float("nan")
    ref_us = median_us(ref_fn, ref_reps)
    tri_us, tri_g = median_us(tri_fn, reps), graph_us(tri_fn, reps)
    return Row(name, shape, max_abs, rel, bound, ref_us, ref_g, tri_us, tri_g, nbytes / 1e9)


def print_table(rows: list[Row], bw: float) -> None:
    head = (
        f"| {'kernel':<26} | {'shape':<34} | max abs | rel err | bound | ok  | ref us | "
        "ref graph us | triton us | triton graph us | speedup (graph) | GB/s | % copy |"
    )
    print("\nus: median of one call; eager includes host launch overhead, graph = GPU time")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        ok = "yes" if r.rel < r.bound else "NO"
        gbs = r.gbytes / (r.triton_graph_us * 1e-6)
        base = r.ref_graph_us if r.ref_graph_us == r.ref_graph_us else r.ref_us
        print(
            f"| {r.kernel:<26} | {r.shape:<34} | {r.max_abs:7.1e} | {r.rel:7.1e} | {r.bound:.0e} | "
            f"{ok:<3} | {r.ref_us:6.0f} | {r.ref_graph_us:12.1f} | {r.triton_us:9.1f} | "
            f"{r.triton_graph_us:15.1f} | {base / r.triton_graph_us:14.1f}x | {gbs:4.0f} | "
            f"{100 * gbs * 1e9 / bw:5.1f}% |"
        )
    print("speedup: reference (graph, else eager) over Triton graph; GB/s: fewest bytes / graph us")
