"""Triton kernels against their torch references (GPU), and the CPU dispatch to the references."""

from __future__ import annotations

import pytest
import torch

from hybridserve import kernels
from hybridserve.kernels import ref
from tests.kernels.kernel_checks import (
    BF16_REL,
    by_expert,
    gpu,
    moe_inputs,
    offsets,
    poison,
    rel_err,
)


@gpu
@pytest.mark.parametrize("rows", [1, 3, 257])
@pytest.mark.parametrize("hidden", [2688, 100])
def test_rms_norm(rows: int, hidden: int) -> None:
    from hybridserve.kernels import norm

    x = torch.randn(rows, hidden, device="cuda", dtype=torch.bfloat16) * 3
    w = torch.randn(hidden, device="cuda", dtype=torch.bfloat16)
    poison()
    assert rel_err(norm.rms_norm(x, w, 1e-5), ref.rms_norm(x, w, 1e-5)) < BF16_REL


@gpu
@pytest.mark.parametrize("rows", [1, 3, 257])
@pytest.mark.parametrize("hidden", [2688, 100])
@pytest.mark.parametrize("stream_dtype", [torch.float32, torch.bfloat16])  # residual_in_fp32
@pytest.mark.parametrize("delta_dtype", [torch.float32, torch.bfloat16])  # fp32: the MoE's sum
def test_add_rms_norm(
    rows: int, hidden: int, stream_dtype: torch.dtype, delta_dtype: torch.dtype
) -> None:
    from hybridserve.kernels import norm

    residual = torch.randn(rows, hidden, device="cuda", dtype=stream_dtype) * 3
    delta = torch.randn(rows, hidden, device="cuda", dtype=delta_dtype)
    w = torch.randn(hidden, device="cuda", dtype=torch.bfloat16)
    want_sum, want = ref.add_rms_norm(residual, delta, w, 1e-5)
    poison()
    total, out = norm.add_rms_norm(residual, delta, w, 1e-5)
    assert torch.equal(total, want_sum) and out.dtype == torch.bfloat16
    assert rel_err(out, want) < BF16_REL


@gpu
@pytest.mark.parametrize("rows", [1, 3, 257])
@pytest.mark.parametrize(("d_inner", "group"), [(4096, 512), (4096, 4096), (96, 24)])
def test_gated_rms_norm(rows: int, d_inner: int, group: int) -> None:
    from hybridserve.kernels import norm

    y, z = torch.randn(2, rows, d_inner, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(d_inner, device="cuda", dtype=torch.bfloat16)
    poison()
    out = norm.gated_rms_norm(y, z, w, group, 1e-5)
    assert rel_err(out, ref.gated_rms_norm(y, z, w, group, 1e-5)) < BF16_REL


@gpu
@pytest.mark.parametrize("batch", [1, 3, 257])
@pytest.mark.parametrize("channels", [6144, 100])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_update(batch: int, channels: int, bias: bool) -> None:
    from hybridserve.kernels import conv1d

    dev, dt = "cuda", torch.bfloat16
    x = torch.randn(batch, channels, device=dev, dtype=dt)
    w = torch.randn(channels, 4, device=dev, dtype=dt)
    b = torch.randn(channels, device=dev, dtype=dt) if bias else None
    cache = torch.randn(600, channels, 3, device=dev, dtype=dt)
    slots = torch.randperm(600, device=dev)[:batch]
    want, want_state = ref.conv1d_update(x, cache[slots], w, b)
    poison()
    out, state = conv1d.conv1d_update(x, cache[slots], w, b)
    assert rel_err(out, want) < BF16_REL and torch.equal(state, want_state)
    untouched = cache.clone()
    out = conv1d.conv1d_update_slots(x, cache, w, b, slots.to(torch.int32))
    assert rel_err(out, want) < BF16_REL
    assert torch.equal(cache[slots], want_state)
    others = torch.ones(600, dtype=torch.bool, device=dev)
    others[slots] = False
    assert torch.equal(cache[others], untouched[others])


@gpu
@pytest.mark.parametrize(
    "lengths", [[1], [1000], [4097], [17, 1, 300], [5 + (i * 37) % 700 for i in range(257)]]
)
def test_paged_decode_attention(lengths: list[int]) -> None:
    from hybridserve.kernels import attention

    dev, dt, hq, hkv, d = "cuda", torch.bfloat16, 32, 2, 128
    total = sum(lengths)
    k_cache = torch.randn(total + 100, hkv, d, device=dev, dtype=dt)
    v_cache = torch.randn(total + 100, hkv, d, device=dev, dtype=dt)
    kv_indices = torch.randperm(total + 100, device=dev)[:total]
    indptr = [0]
    for n in lengths:
        indptr.append(indptr[-1] + n)
    q = torch.randn(len(lengths), hq, d, device=dev, dtype=dt)
    cu_q = list(range(len(lengths) + 1))
    want = ref.attention_varlen(q, k_cache, v_cache, cu_q, kv_indices, indptr, d**-0.5)
    poison()
    indptr_t = torch.tensor(indptr, dtype=torch.int32, device=dev)
    out = attention.paged_decode_attention(q, k_cache, v_cache, kv_indices, indptr_t, d**-0.5)
    assert rel_err(out, want) < BF16_REL
    out = kernels.paged_decode_attention(q, k_cache, v_cache, kv_indices, indptr_t, d**-0.5)
    assert rel_err(out, want) < BF16_REL


@gpu
@pytest.mark.parametrize(
    "lengths", [[1], [1000], [17, 1, 300], [5 + (i * 37) % 200 for i in range(33)]]
)
@pytest.mark.parametrize(("channels", "bias"), [(6144, True), (100, False)])
def test_causal_conv1d_varlen(lengths: list[int], channels: int, bias: bool) -> None:
    from hybridserve.kernels import conv1d

    dev, dt, cu = "cuda", torch.bfloat16, offsets(lengths)
    x = torch.randn(cu[-1], channels, device=dev, dtype=dt)
    w = torch.randn(channels, 4, device=dev, dtype=dt)
    b = torch.randn(channels, device=dev, dtype=dt) if bias else None
    init = torch.randn(len(lengths), channels, 3, device=dev, dtype=dt)
    init[::2] = 0  # sequences without history
    want = ref.causal_conv1d_varlen(x, w, b, cu, init)
    poison()
    assert rel_err(conv1d.causal_conv1d_varlen(x, w, b, cu, init), want) < BF16_REL


@gpu
@pytest.mark.parametrize(
    "shapes", [[(5, 5)], [(1000, 1000)], [(300, 4000), (1, 77), (64, 64)], [(1, 1)] * 3]
)
def test_prefill_attention(shapes: list[tuple[int, int]]) -> None:
    """SDPA over a cached prefix: (queries, context) per sequence, queries last in the context."""
    from hybridserve.kernels import prefill_attention

    dev, dt, hq, hkv, d = "cuda", torch.bfloat16, 32, 2, 128
    cu_q, indptr = offsets([q for q, _ in shapes]), offsets([k for _, k in shapes])
    k_cache, v_cache = torch.randn(2, indptr[-1] + 50, hkv, d, device=dev, dtype=dt)
    kv_indices = torch.randperm(indptr[-1] + 50, device=dev)[: indptr[-1]]
    q = torch.randn(cu_q[-1], hq, d, device=dev, dtype=dt)
    args = (q, k_cache, v_cache, cu_q, kv_indices, indptr, d**-0.5)
    want = ref.attention_varlen(*args)
    poison()
    assert rel_err(prefill_attention.attention_varlen(*args), want) < BF16_REL


def ssu_inputs(batch: int, heads: int, p: int, n: int, groups: int, dev: str):
    """A state cache of 600 slots, a step's x/dt/B/C as strided views like the layer's."""
    cache = torch.randn(600, heads, p, n, device=dev)
    slots = torch.randperm(600, device=dev)[:batch]
    act = torch.randn(batch, heads * p + 2 * groups * n, device=dev, dtype=torch.bfloat16)
    x = act[:, : heads * p].view(batch, heads, p)
    B = act[:, heads * p : heads * p + groups * n].view(batch, groups, n)
    C = act[:, heads * p + groups * n :].view(batch, groups, n)
    dt = torch.randn(batch, heads, device=dev, dtype=torch.bfloat16) * 2  # as in_proj writes it
    dt_bias = torch.randn(heads, device=dev) - 2
    A = -torch.rand(heads, device=dev) * 4
    D = torch.randn(heads, device=dev)
    return cache, slots, x, dt, dt_bias, A, B, C, D


@gpu
@pytest.mark.parametrize("batch", [1, 3, 257])
@pytest.mark.parametrize(("heads", "p", "n", "groups"), [(64, 64, 128, 8), (6, 20, 24, 2)])
@pytest.mark.parametrize("state_dtype", [torch.float32, torch.bfloat16])  # --mamba-ssm-dtype
def test_selective_state_update_slots(
    batch: int, heads: int, p: int, n: int, groups: int, state_dtype: torch.dtype
):
    from hybridserve.kernels import ssu

    cache, slots, x, dt, dt_bias, A, B, C, D = ssu_inputs(batch, heads, p, n, groups, "cuda")
    cache = cache.to(state_dtype)
    state = cache[slots]
    limit = (0.0, float("inf")) if batch != 3 else (0.05, 0.5)  # the config's time_step_limit
    want = ref.selective_state_update(state, x, ref.softplus_dt(dt, dt_bias, limit), A, B, C, D)
    untouched = cache.clone()
    poison()
    out = ssu.selective_state_update_slots(
        cache, slots.to(torch.int32), x, dt, dt_bias, limit, A, B, C, D
    )
    assert rel_err(out, want) < BF16_REL
    bound = 1e-5 if state_dtype == torch.float32 else BF16_REL  # both round the same fp32
    assert rel_err(cache[slots], state) < bound
    others = torch.ones(600, dtype=torch.bool, device="cuda")
    others[slots] = False
    assert torch.equal(cache[others], untouched[others])


@gpu
@pytest.mark.parametrize("tokens", [1, 3, 64, 257, 2000])
def test_router_logits_at_fp32_accuracy(tokens: int) -> None:
    from hybridserve.kernels import gate

    x = torch.randn(tokens, 2688, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(128, 2688, device="cuda") * 2688**-0.5
    poison()
    got = gate.router_logits(x, w).sum(0)
    want = (x.double() @ w.double().t()).float()
    assert (got - want).abs().max().item() < 1e-5  # tf32 alone errs by ~1e-3 here


@gpu
@pytest.mark.parametrize("tokens", [1, 3, 257])
@pytest.mark.parametrize(("experts", "top_k", "normalize"), [(128, 6, True), (40, 3, False)])
def test_gate_topk(tokens: int, experts: int, top_k: int, normalize: bool) -> None:
    x = torch.randn(tokens, 2688, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(experts, 2688, device="cuda") * 2688**-0.5
    bias = torch.randn(experts, device="cuda") * 0.1
    want_w, want_ids = ref.gate_topk(x, w, bias, top_k, 1, 1, normalize, 2.5)
    poison()
    got_ids, got_w = by_expert(*kernels.gate_topk(x, w, bias, top_k, 1, 1, normalize, 2.5))
    want_ids, want_w = by_expert(want_w, want_ids)
    assert torch.equal(got_ids, want_ids)
    torch.testing.assert_close(got_w, want_w)


@gpu
def test_decode_gate_topk_replayed_in_a_graph() -> None:
    """A token's last program to finish picks its top-k from the logits the others stored. A
    graph of 8 launches replayed on new inputs must match the reference every time: a logit
    read before its store landed, or a count not reset, changes the picks."""
    from hybridserve.kernels import arrivals, gate

    w = torch.randn(128, 2688, device="cuda") * 2688**-0.5
    bias = torch.randn(128, device="cuda") * 0.1
    xs = torch.randn(8, 3, 2688, device="cuda", dtype=torch.bfloat16)
    args = (bias, 6, True, 2.5)
    gate.decode_gate_topk(xs[0], w, *args)  # eager first, as the engine does
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = [gate.decode_gate_topk(x, w, *args) for x in xs]
    for _ in range(20):
        xs.normal_()
        graph.replay()
        for x, out in zip(xs, outs):
            got_ids, got_w = by_expert(*out)
            want_ids, want_w = by_expert(*ref.gate_topk(x, w, bias, 6, 1, 1, True, 2.5))
            assert torch.equal(got_ids, want_ids)
            torch.testing.assert_close(got_w, want_w)
    assert not arrivals.counts(xs.device, "gate", gate.DECODE_MAX_TOKENS).any()


def test_dispatch_uses_reference_on_cpu() -> None:
    x = torch.randn(3, 64)
    w4, init = torch.randn(64, 4), torch.randn(2, 64, 3)
    want = ref.causal_conv1d_varlen(x, w4, None, [0, 1, 3], init)
    assert torch.equal(kernels.causal_conv1d_varlen(x, w4, None, [0, 1, 3], init), want)
    ssd = (torch.randn(5, 4, 8), torch.rand(5, 4), -torch.rand(4), *torch.randn(2, 5, 2, 16))
    ssd += (torch.randn(4), 2, torch.randn(4, 8, 16))
    assert all(map(torch.equal, kernels.ssd_scan(*ssd), ref.ssd_scan(*ssd)))
    q, k_cache, v_cache = torch.randn(3, 4, 8), *torch.randn(2, 9, 2, 8)
    attn = (q, k_cache, v_cache, [0, 2, 3], torch.tensor([4, 0, 8, 1, 2]), [0, 3, 5], 0.3)
    assert torch.equal(kernels.attention_varlen(*attn), ref.attention_varlen(*attn))
    w = torch.randn(64)
    assert torch.equal(kernels.rms_norm(x, w, 1e-5), ref.rms_norm(x, w, 1e-5))
    y, z = torch.randn(2, 3, 64)
    want = ref.gated_rms_norm(y, z, w, 16, 1e-5)
    assert torch.equal(kernels.gated_rms_norm(y, z, w, 16, 1e-5), want)
    args = moe_inputs(4, 8, 32, 16, 2, "cpu")
    assert torch.equal(kernels.moe_experts(*args), ref.moe_experts(*args))
    gate = (torch.randn(4, 32), torch.randn(8, 32), torch.zeros(8), 2, 1, 1, True, 1.0)
    assert all(map(torch.equal, kernels.gate_topk(*gate), ref.gate_topk(*gate)))
    w2 = torch.randn(5, 64)
    assert torch.equal(kernels.linear(x, w2, relu2=True), (x @ w2.t()).relu().square())
    assert torch.equal(kernels.linear(x, w2, fp32_out=True), ref.linear(x, w2, fp32_out=True))


def test_selective_state_update_slots_on_cpu() -> None:
    cache, slots, x, dt, dt_bias, A, B, C, D = ssu_inputs(3, 4, 8, 16, 2, "cpu")
    state = cache[slots]
    limit = (0.0, float("inf"))
    want = ref.selective_state_update(state, x, ref.softplus_dt(dt, dt_bias, limit), A, B, C, D)
    out = kernels.selective_state_update_slots(cache, slots, x, dt, dt_bias, limit, A, B, C, D)
    assert torch.equal(out, want) and torch.equal(cache[slots], state)


def test_conv1d_update_slots_on_cpu() -> None:
    x, w = torch.randn(2, 8), torch.randn(8, 4)
    cache = torch.randn(5, 8, 3)
    slots = torch.tensor([3, 1])
    want, want_state = ref.conv1d_update(x, cache[slots], w, None)
    out = kernels.conv1d_update_slots(x, cache, w, None, slots)
    assert torch.equal(out, want) and torch.equal(cache[slots], want_state)


def test_paged_decode_attention_on_cpu() -> None:
    k_cache, v_cache = torch.randn(2, 10, 2, 8)
    q = torch.randn(2, 4, 8)
    kv_indices = torch.tensor([0, 4, 2, 9, 7])
    indptr = torch.tensor([0, 2, 5])
    want = ref.attention_varlen(q, k_cache, v_cache, [0, 1, 2], kv_indices, [0, 2, 5], 0.3)
    out = kernels.paged_decode_attention(q, k_cache, v_cache, kv_indices, indptr, 0.3)
    assert torch.equal(out, want)
