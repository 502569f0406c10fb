"""Programmatic dependent launch (kernels/pdl.py): off for CPU tensors; on a GPU a CUDA graph of
dependent PDL kernels reads each input only after the kernel that wrote it has finished."""

from __future__ import annotations

import pytest
import torch

from hybridserve import kernels
from hybridserve.kernels import pdl
from tests.kernels.kernel_checks import gpu


def test_cpu_tensors_launch_without_pdl() -> None:
    assert pdl.launch_args(torch.zeros(1)) == {"PDL": False}


def _chain(
    x: torch.Tensor, ws: list[torch.Tensor], norm_w: torch.Tensor, moe: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """GEMV -> add + RMSNorm -> GEMV ..., every fourth GEMV a MoE step (gate and top-k, up,
    down, the shared expert in them: its up rows read the norm's output from two kernels back
    before their wait): each kernel reads what the ones before it wrote."""
    gate_w, bias, w_up, w_down, s_up, s_down = moe
    residual = x
    h = kernels.rms_norm(x, norm_w, 1e-5)
    for i, w in enumerate(ws):
        if i % 4 == 3:
            weights, ids = kernels.gate_topk(h, gate_w, bias, 2, 1, 1, True, 1.0)
            shared = (s_up, s_down)
            out = kernels.moe_experts(h, w_up, w_down, weights, ids, shared=shared)  # fp32
        else:
            out = kernels.linear(h, w)
        residual, h = kernels.add_rms_norm(residual, out, norm_w, 1e-5)
    return h


@gpu
def test_a_graph_of_pdl_kernels_reads_each_input_after_it_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    hidden = 2688
    shape = (hidden, hidden)
    ws = [torch.randn(shape, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(16)]
    norm_w = torch.rand(hidden, device="cuda", dtype=torch.bfloat16) + 0.5
    inputs = [torch.randn(1, hidden, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
    experts, inter = 8, 256
    moe = (
        torch.randn(experts, hidden, device="cuda") * hidden**-0.5,
        torch.randn(experts, device="cuda") * 0.1,
        torch.randn(experts, inter, hidden, device="cuda", dtype=torch.bfloat16) * 0.02,
        torch.randn(experts, hidden, inter, device="cuda", dtype=torch.bfloat16) * 0.1,
        torch.randn(2 * inter, hidden, device="cuda", dtype=torch.bfloat16) * 0.02,
        torch.randn(hidden, 2 * inter, device="cuda", dtype=torch.bfloat16) * 0.1,
    )

    monkeypatch.setenv("HYBRIDSERVE_PDL", "0")
    pdl._enabled.cache_clear()
    want = [_chain(x, ws, norm_w, moe) for x in inputs]
    assert pdl.launch_args(inputs[0]) == {"PDL": False}

    monkeypatch.setenv("HYBRIDSERVE_PDL", "1")
    pdl._enabled.cache_clear()
    assert pdl.launch_args(inputs[0]) == {"PDL": True, "launch_pdl": True}
    static_x = inputs[0].clone()
    _chain(static_x, ws, norm_w, moe)  # compile outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = _chain(static_x, ws, norm_w, moe)
    try:
        for x, expected in zip(inputs, want, strict=True):  # each replay on a new input
            static_x.copy_(x)
            graph.replay()
            torch.cuda.synchronize()
            assert torch.equal(out, expected)
    finally:
        monkeypatch.undo()
        pdl._enabled.cache_clear()
