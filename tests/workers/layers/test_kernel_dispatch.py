"""The layers call the `hybridserve.kernels` entry points: the exact references on CPU, Triton on
CUDA (checked end to end against the same model on CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from hybridserve import kernels
from hybridserve.kernels import ref
from hybridserve.workers import models  # noqa: F401  (before layers: models imports them)
from hybridserve.workers.layers import GatedRMSNorm, MoE, RMSNorm
from hybridserve.workers.models import (
    ForwardBatch,
    HybridCacheBuffers,
    NemotronHForCausalLM,
    StateSnapshot,
    load_model,
    resolve_config,
)


def test_norms_are_the_reference_on_cpu() -> None:
    x, z = torch.randn(5, 64), torch.randn(5, 64)
    norm = RMSNorm(64, 1e-5)
    torch.nn.init.normal_(norm.weight)
    assert torch.equal(norm(x), ref.rms_norm(x, norm.weight, 1e-5))
    gated = GatedRMSNorm(64, 16, 1e-5)
    torch.nn.init.normal_(gated.weight)
    assert torch.equal(gated(x, z), ref.gated_rms_norm(x, z, gated.weight, 16, 1e-5))


@pytest.mark.parametrize("tokens", [7, 1])  # 1: the shared expert in the experts' launches
def test_moe_is_the_reference_on_cpu(tokens: int) -> None:
    model = load_model("tiny", "dummy", torch.float32, torch.device("cpu"))
    moe = next(b.mixer for b in model.layers if isinstance(b.mixer, MoE))
    x = torch.randn(tokens, model.config.hidden_size)
    c = model.config
    assert kernels.fuses_shared_expert(tokens, c.num_experts_per_tok) == (tokens == 1)
    w, ids = ref.gate_topk(
        x,
        moe.gate.weight,
        moe.gate.e_score_correction_bias,
        c.num_experts_per_tok,
        c.n_group,
        c.topk_group,
        c.norm_topk_prob,
        c.routed_scaling_factor,
    )
    e, shared = moe.experts, moe.shared_experts(x, fp32_out=True)  # routed add onto shared
    want = ref.moe_experts(x, e.up_proj, e.down_proj, w, ids, acc=shared)
    assert torch.equal(moe(x, None, None), want)  # type: ignore[arg-type]


def _prefill_extend_decode(
    model: NemotronHForCausalLM, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sequences (5 and 9 tokens) prefilled, the 2nd saving its Mamba state after 4 tokens in
    slot 3; the 1st extended by 3 tokens over its cached prefix; one decode step of both, then
    one of the 2nd alone (a single row: the batch-1 kernels). Returns the extend's and the
    decodes' logits, and the snapshot's state of each Mamba layer."""
    buffers = HybridCacheBuffers(model.cache_shapes(), 64, 4, torch.bfloat16, torch.float32, device)

    def t(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, model.config.vocab_size, (20,), generator=gen).tolist()
    prefill = ForwardBatch(
        t(tokens[:14]),
        [0, 5, 14],
        [0, 0],
        t(list(range(1, 15))),
        t(list(range(1, 15))),
        [0, 5, 14],
        t([1, 2]),
        [StateSnapshot(seq=1, offset=4, slot=3)],
    )
    model(prefill, buffers)
    first = [*range(1, 6), 15, 16, 17]
    extend = ForwardBatch(
        t(tokens[14:17]), [0, 3], [5], t([15, 16, 17]), t(first), [0, 8], t([1]), []
    )
    extended = model(extend, buffers)
    kv = [*first, 18, *range(6, 15), 19]
    decode = ForwardBatch(
        t(tokens[17:19]), [0, 1, 2], [8, 9], t([18, 19]), t(kv), [0, 9, 19], t([1, 2]), []
    )
    assert decode.is_decode
    decoded = model(decode, buffers)
    one = ForwardBatch(
        t(tokens[19:]), [0, 1], [10], t([20]), t([*range(6, 15), 19, 20]), [0, 11], t([2]), []
    )
    assert one.is_decode
    logits = torch.cat([extended, decoded, model(one, buffers)]).cpu()
    return logits, buffers.ssm[:, 3].cpu()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_model_matches_cpu_reference() -> None:
    assert resolve_config("tiny").num_layers > 0
    cpu = load_model("tiny", "dummy", torch.bfloat16, torch.device("cpu"))
    gpu = copy.deepcopy(cpu).to("cuda")
    want, want_state = _prefill_extend_decode(cpu, torch.device("cpu"))
    got, got_state = _prefill_extend_decode(gpu, torch.device("cuda"))
    for out, ref_out in ((got, want), (got_state, want_state)):
        assert torch.isfinite(out).all()
        rel = ((out.double() - ref_out.double()).norm() / ref_out.double().norm()).item()
        assert rel < 5e-2, rel
