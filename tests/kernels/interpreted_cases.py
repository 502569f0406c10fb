"""Each Triton kernel of `kernels/` against its reference under Triton's interpreter
(`TRITON_INTERPRET=1`: the kernels run on CPU tensors through NumPy), at small, odd shapes, so a
machine without a GPU (CI) executes the kernels' own indexing, masking and arithmetic. (Their bf16
rounding and speed are checked on the GPU: bench/gpu_check.py.) Before each launch the kernel
also goes through Triton's front end for sm_90 (hopper_front_end.py), which refuses what the
interpreter lets through.

Each case runs in float32, where an indexing or masking error stands out from rounding by orders
of magnitude, and in float16, a half-precision model dtype beside the fp32 parameters (gate,
state, bias) as on the GPU: there the front end sees the kernels' real mix of widths, and refuses
e.g. a name bound to a bf16 load in one branch and to an fp32 one in the other, which float32
alone hides. (The interpreter's bf16 `tl.dot` returns garbage: NumPy has no bf16.)

    TRITON_INTERPRET=1 python3 -m tests.kernels.interpreted_cases [--dtype float16] [case ...]

The interpreter must be on before the kernel modules are imported (it is read when `triton.jit`
decorates them), so test_interpreted_kernels.py runs this in a subprocess. Fails (exit 1) on the
first case out of its bound; prints each case with its error."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch

from hybridserve.kernels import ref
from tests.kernels import hopper_front_end
from tests.kernels.kernel_checks import by_expert, offsets, rel_err

BOUNDS = {torch.float32: 1e-5, torch.float16: 2e-3}  # relative error; fp16 cases err ~5e-4
DTYPE = torch.float32  # the cases' activations and weights; main() sets it


def bound() -> float:
    """The relative error allowed at the cases' DTYPE."""
    return BOUNDS[DTYPE]


CASES: dict[str, Callable[[], float]] = {}


def _fix_scalar_index() -> None:
    """The interpreter holds a scalar as a one-element array and converts it with `int()`,
    which NumPy 2.4 refuses for arrays of one dimension: loops bounded by a kernel argument
    (`range(0, n, BLOCK)`) then fail. Convert through `.item()` instead."""
    from triton.runtime import interpreter

    patch = interpreter._patch_lang_tensor

    def patched(tensor: type, scope: object) -> None:
        patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

    interpreter._patch_lang_tensor = patched


def case(fn: Callable[[], float]) -> Callable[[], float]:
    CASES[fn.__name__] = fn
    return fn


@case
def rms_norm() -> float:
    from hybridserve.kernels import norm

    x, w = torch.randn(3, 100, dtype=DTYPE) * 3, torch.randn(100, dtype=DTYPE)
    return rel_err(norm.rms_norm(x, w, 1e-5), ref.rms_norm(x, w, 1e-5))


@case
def add_rms_norm() -> float:
    from hybridserve.kernels import norm

    residual, w = torch.randn(2, 3, 100, dtype=DTYPE) * 3, torch.randn(100, dtype=DTYPE)
    delta = torch.randn(2, 3, 100, dtype=torch.float64)  # wider than the model's: rounded to it
    want_sum, want = ref.add_rms_norm(residual, delta, w, 1e-5)
    total, out = norm.add_rms_norm(residual, delta, w, 1e-5)
    assert torch.equal(total, want_sum), "residual sum"
    return rel_err(out, want)


@case
def gated_rms_norm() -> float:
    from hybridserve.kernels import norm

    y, z = torch.randn(2, 3, 96, dtype=DTYPE)
    w = torch.randn(96, dtype=DTYPE)
    return rel_err(norm.gated_rms_norm(y, z, w, 24, 1e-5), ref.gated_rms_norm(y, z, w, 24, 1e-5))


@case
def conv1d_update_slots() -> float:
    from hybridserve.kernels import conv1d

    x, w, b = torch.randn(3, 100, dtype=DTYPE), torch.randn(100, 4, dtype=DTYPE), None
    cache = torch.randn(9, 100, 3, dtype=DTYPE)
    slots = torch.tensor([7, 2, 4])
    want, want_state = ref.conv1d_update(x, cache[slots], w, b)
    out = conv1d.conv1d_update_slots(x, cache, w, b, slots.to(torch.int32))
    assert torch.equal(cache[slots], want_state), "conv states"
    return rel_err(out, want)


@case
def causal_conv1d_varlen() -> float:
    from hybridserve.kernels import conv1d

    cu = offsets([17, 1, 40])
    x, w = torch.randn(cu[-1], 100, dtype=DTYPE), torch.randn(100, 4, dtype=DTYPE)
    b = torch.randn(100, dtype=DTYPE)
    init = torch.randn(3, 100, 3, dtype=DTYPE)
    init[1] = 0  # a sequence without history
    want = ref.causal_conv1d_varlen(x, w, b, cu, init)
    tiles = (conv1d.CONV_TILE, conv1d.ConvTile(2, 32, 2))  # 2 positions: blocks at the start cut
    return max(rel_err(conv1d.causal_conv1d_varlen(x, w, b, cu, init, t), want) for t in tiles)


@case
def selective_state_update_slots() -> float:
    from hybridserve.kernels import ssu

    heads, p, n, groups, batch = 6, 20, 24, 2, 3
    cache = torch.randn(9, heads, p, n)
    slots = torch.tensor([5, 0, 8])
    act = torch.randn(batch, heads * p + 2 * groups * n, dtype=DTYPE)
    x = act[:, : heads * p].view(batch, heads, p)
    B = act[:, heads * p : heads * p + groups * n].view(batch, groups, n)
    C = act[:, heads * p + groups * n :].view(batch, groups, n)
    dt, dt_bias = torch.randn(batch, heads) * 2, torch.randn(heads) - 2  # before softplus
    A, D = -torch.rand(heads) * 4, torch.randn(heads)
    dt[0, 0] = 30.0  # past softplus's threshold
    limit = (0.05, 5.0)  # the config's time_step_limit
    state = cache[slots]
    want = ref.selective_state_update(state, x, ref.softplus_dt(dt, dt_bias, limit), A, B, C, D)
    out = ssu.selective_state_update_slots(
        cache, slots.to(torch.int32), x, dt, dt_bias, limit, A, B, C, D
    )
    assert rel_err(cache[slots], state) < bound(), "states"
    return rel_err(out, want)


@case
def gemv() -> float:
    """Odd N and K (masked tiles), plain, relu^2 and fp32 out."""
    from hybridserve.kernels import gemv

    errs = []
    for n, k in ((40, 300), (70, 2100), (3, 64)):
        x, w = torch.randn(1, k, dtype=DTYPE), torch.randn(n, k, dtype=DTYPE) * k**-0.5
        want = torch.nn.functional.linear(x, w)
        errs.append(rel_err(gemv.gemv(x, w), want))
        errs.append(rel_err(gemv.gemv(x, w, relu2=True), want.relu().square()))
        fp32 = gemv.gemv(x, w, out_dtype=torch.float32)
        errs.append(rel_err(fp32, ref.linear(x, w, fp32_out=True)))
    return max(errs)


@case
def in_proj_conv() -> float:
    """Conv rows inside the output with plain rows both sides, a tile across each border, odd
    widths; with and without bias; a padded row (slot -1) leaves the cache alone."""
    from hybridserve.kernels import gemv, mamba_gemv

    errs = []
    for bias in (True, False):
        k, n, lo, c = 70, 45, 7, 31
        x, w = torch.randn(1, k, dtype=DTYPE), torch.randn(n, k, dtype=DTYPE) * k**-0.5
        cw, cb = torch.randn(c, 4, dtype=DTYPE), torch.randn(c, dtype=DTYPE) if bias else None
        cache = torch.randn(5, c, 3, dtype=DTYPE)
        slot = torch.tensor([3])
        want_cache = cache.clone()
        want = ref.in_proj_conv(x, w, cw, cb, want_cache, slot, lo)
        tile = gemv.GemvTile(4, 32, 1)
        errs.append(rel_err(mamba_gemv.in_proj_conv(x, w, cw, cb, cache, slot, lo, tile), want))
        errs.append(rel_err(cache, want_cache))
        before = cache.clone()
        mamba_gemv.in_proj_conv(x, w, cw, cb, cache, torch.tensor([-1]), lo, tile)
        assert torch.equal(cache, before), "a padded row wrote the cache"
    return max(errs)


@case
def qkv_to_cache() -> float:
    """Odd row counts (a tile across each weight's end), K past the last tile; only row `loc`
    of each cache is written."""
    from hybridserve.kernels import gemv, qkv_gemv

    k, nq, heads, dim = 70, 27, 3, 5
    x = torch.randn(1, k, dtype=DTYPE)
    wq, wk, wv = (torch.randn(n, k, dtype=DTYPE) * k**-0.5 for n in (nq, heads * dim, heads * dim))
    caches = torch.randn(2, 6, heads, dim, dtype=DTYPE)
    want_caches, loc = caches.clone(), torch.tensor([4])
    want = ref.qkv_to_cache(x, wq, wk, wv, *want_caches, loc)
    tile = gemv.GemvTile(2, 32, 1)
    got = qkv_gemv.qkv_to_cache(x, wq, wk, wv, *caches, loc, tile)
    assert torch.equal(caches[:, :4], want_caches[:, :4]) and torch.equal(
        caches[:, 5], want_caches[:, 5]
    )
    return max(rel_err(got, want), rel_err(caches, want_caches))


@case
def relu_square_() -> float:
    from hybridserve.kernels import activation

    x = torch.randn(3, 5000, dtype=DTYPE)  # a second, partial block
    want = torch.nn.functional.relu(x).square()
    assert activation.relu_square_(x) is x, "in place"
    return rel_err(x, want)


@case
def gate_topk() -> float:
    from hybridserve.kernels import arrivals, gate

    x, w = torch.randn(3, 600, dtype=DTYPE), torch.randn(40, 600) * 600**-0.5
    bias = torch.randn(40) * 0.1
    want_ids, want_w = by_expert(*ref.gate_topk(x, w, bias, 3, 1, 1, True, 2.5))
    logits = gate.router_logits(x, w)  # partial sums over 3 slices of the 600 columns
    assert logits.shape[0] == 3 and rel_err(logits.sum(0), x.float() @ w.t()) < bound(), "logits"
    many = torch.randn(130, 600, dtype=DTYPE)  # the many-token tiles, a partial one
    many_logits = gate.router_logits(many, w).sum(0)
    assert rel_err(many_logits, many.float() @ w.t()) < bound(), "logits, many"
    err = 0.0
    for routing in (
        gate.topk_from_logits(logits, bias, 3, True, 2.5),
        gate.decode_gate_topk(x, w, bias, 3, True, 2.5),  # one launch: logits, then top-k
    ):
        got_ids, got_w = by_expert(*routing)
        assert torch.equal(got_ids, want_ids), "expert ids"
        err = max(err, rel_err(got_w, want_w))
    counts = arrivals.counts(x.device, "gate", gate.DECODE_MAX_TOKENS)
    assert not counts.any(), "the arrival counts are left at zero"
    return err


@case
def moe_experts() -> float:
    """The grouped path (more pairs than moe_gemv takes: 15), adding onto zeros and onto a given
    fp32 output (the shared expert's) in place; with pointer loads and through TMA (tiles past
    N and K: the next expert's rows, zeros)."""
    from hybridserve.kernels import moe

    experts, hidden, inter, k = 16, 72, 40, 3  # 8 local experts: ids 8..15
    w_up = torch.randn(experts, inter, hidden, dtype=DTYPE)[8:].contiguous() * hidden**-0.5
    w_down = torch.randn(experts, hidden, inter, dtype=DTYPE)[8:].contiguous() * inter**-0.5
    assert moe.tma_ready(w_up, w_down)
    errs = []
    for tokens, with_acc, tma in ((5, False, False), (5, True, False), (7, True, True)):
        cfg = moe.MoEBlockConfig(16, 32, 32, 4, 1, group_m=2, tma=tma)
        x = torch.randn(tokens, hidden, dtype=DTYPE)
        ids = torch.rand(tokens, experts).topk(k, dim=-1).indices
        weights = torch.rand(tokens, k)
        acc = torch.randn(tokens, hidden) if with_acc else None
        want = ref.moe_experts(x, w_up, w_down, weights, ids, 8, None if acc is None else acc + 0)
        out = moe.moe_experts(x, w_up, w_down, weights, ids, 8, cfg, acc)
        assert acc is None or out is acc, "adds in place"
        errs.append(rel_err(out, want))
    return max(errs)


@case
def moe_gemv() -> float:
    """The few-pairs path: odd dims (masked tiles), experts of another rank among the chosen,
    one and three tokens, onto zeros, onto a given fp32 output, and with the shared expert."""
    from hybridserve.kernels import moe_gemv

    experts, hidden, inter, k, s_inter = 16, 70, 45, 3, 37  # 8 local experts: ids 8..15
    w_up = torch.randn(experts, inter, hidden, dtype=DTYPE)[8:].contiguous() * hidden**-0.5
    w_down = torch.randn(experts, hidden, inter, dtype=DTYPE)[8:].contiguous() * inter**-0.5
    shared = (
        torch.randn(s_inter, hidden, dtype=DTYPE) * hidden**-0.5,
        torch.randn(hidden, s_inter, dtype=DTYPE) * s_inter**-0.5,
    )
    tile = moe_gemv.GemvTile(4, 32, 1)
    errs = []
    for tokens, acc_or_shared in ((1, None), (1, "acc"), (3, "acc"), (1, "shared"), (2, "shared")):
        x = torch.randn(tokens, hidden, dtype=DTYPE)
        ids = torch.rand(tokens, experts).topk(k, dim=-1).indices
        ids[0, 0], ids[0, 1] = 2, 9  # one remote, one local expert for certain
        weights = torch.rand(tokens, k)
        acc = torch.randn(tokens, hidden) if acc_or_shared == "acc" else None
        with_shared = shared if acc_or_shared == "shared" else None
        want_acc = None if acc is None else acc + 0
        if with_shared:
            want_acc = ref.shared_expert(x, *shared)
        want = ref.moe_experts(x, w_up, w_down, weights, ids, 8, want_acc)
        out = moe_gemv.moe_experts(
            x, w_up, w_down, weights, ids, 8, acc, tile, tile, shared=with_shared
        )
        assert acc is None or out is acc, "adds in place"
        errs.append(rel_err(out, want))
    return max(errs)


@case
def paged_decode_attention() -> float:
    from hybridserve.kernels import attention

    hq, hkv, d, lengths = 4, 2, 16, [1, 37, 5]
    total = sum(lengths)
    k_cache, v_cache = torch.randn(2, total + 10, hkv, d, dtype=DTYPE)
    kv_indices = torch.randperm(total + 10)[:total]
    indptr = offsets(lengths)
    q = torch.randn(len(lengths), hq, d, dtype=DTYPE)
    cu_q = list(range(len(lengths) + 1))
    want = ref.attention_varlen(q, k_cache, v_cache, cu_q, kv_indices, indptr, d**-0.5)
    indptr_t = torch.tensor(indptr, dtype=torch.int32)
    out = attention.paged_decode_attention(q, k_cache, v_cache, kv_indices, indptr_t, d**-0.5)
    return rel_err(out, want)


def main(argv: list[str]) -> int:
    global DTYPE
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("cases", nargs="*", metavar="case", help=", ".join(CASES))
    args = parser.parse_args(argv)
    DTYPE = getattr(torch, args.dtype)
    _fix_scalar_index()
    hopper_front_end.check_before_each_run()
    torch.manual_seed(0)
    for name in args.cases or list(CASES):
        started = time.perf_counter()
        err = CASES[name]()
        took = time.perf_counter() - started
        print(f"{name} ({args.dtype}): rel err {err:.1e} ({took:.1f} s)", flush=True)
        if not err < bound():
            print(f"{name}: over the bound {bound()}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
