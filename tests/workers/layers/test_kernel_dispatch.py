"""The layers call the `hybridserve.kernels` entry points: the exact references on CPU, Triton on
CUDA (checked end to end against the same model on CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from hybridserve.kernels import ref
from hybridserve.workers import models  # noqa: F401  (before layers: models imports them)
from hybridserve.workers.layers import GatedRMSNorm, MoE, RMSNorm
from hybridserve.workers.models import (
    ForwardBatch,
    HybridCacheBuffers,
    NemotronHForCausalLM,
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


def test_moe_is_the_reference_on_cpu() -> None:
    model = load_model("tiny", "dummy", torch.float32, torch.device("cpu"))
    moe = next(b.mixer for b in model.layers if isinstance(b.mixer, MoE))
    x = torch.randn(7, model.config.hidden_size)
    c = model.config
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
    want = ref.moe_experts(x, moe.experts.up_proj, moe.experts.down_proj, w, ids).to(x.dtype)
    want = want + moe.shared_experts(x)
    assert torch.equal(moe(x, None, None), want)  # type: ignore[arg-type]


def _prefill_then_decode(model: NemotronHForCausalLM, device: torch.device) -> torch.Tensor:
    """Two sequences (5 and 9 tokens) prefilled, then one decode step; the decode logits."""
    buffers = HybridCacheBuffers(model.cache_shapes(), 64, 4, torch.bfloat16, torch.float32, device)

    def t(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(3, model.config.vocab_size, (14,), generator=gen).tolist()
    prefill = ForwardBatch(
        t(prompt),
        [0, 5, 14],
        [0, 0],
        t(list(range(1, 15))),
        t(list(range(1, 15))),
        [0, 5, 14],
        t([1, 2]),
        [],
    )
    model(prefill, buffers)
    kv = [*range(1, 6), 15, *range(6, 15), 16]
    decode = ForwardBatch(
        t([7, 9]), [0, 1, 2], [5, 9], t([15, 16]), t(kv), [0, 6, 16], t([1, 2]), []
    )
    assert decode.is_decode
    return model(decode, buffers).cpu()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_model_matches_cpu_reference() -> None:
    assert resolve_config("tiny").num_layers > 0
    cpu = load_model("tiny", "dummy", torch.bfloat16, torch.device("cpu"))
    gpu = copy.deepcopy(cpu).to("cuda")
    want = _prefill_then_decode(cpu, torch.device("cpu"))
    got = _prefill_then_decode(gpu, torch.device("cuda"))
    assert torch.isfinite(got).all()
    rel = ((got.double() - want.double()).norm() / want.double().norm()).item()
    assert rel < 5e-2, rel
