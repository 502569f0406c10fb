"""Mamba-2 chunked scan (SSD) for prefill on GPU: mamba-ssm's Triton `mamba_chunk_scan_combined`,
one sequence a call, since its varlen mode (seq_idx) takes no per-sequence initial states, which a
cached prefix needs. Oracle: kernels/ref/ssd.py `ssd_scan`."""

from __future__ import annotations

import torch
from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined


def ssd_scan(
    x: torch.Tensor,  # [L, H, P]
    dt: torch.Tensor,  # [L, H] fp32, after softplus (and the limit clamp)
    A: torch.Tensor,  # [H] fp32, negative
    B: torch.Tensor,  # [L, G, N]
    C: torch.Tensor,  # [L, G, N]
    D: torch.Tensor,  # [H]
    chunk_size: int,
    initial_state: torch.Tensor | None = None,  # [H, P, N]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan one sequence; returns (y [L, H, P] in x's dtype, final state [H, P, N] fp32)."""
    init = None if initial_state is None else initial_state[None].float()
    y, final = mamba_chunk_scan_combined(
        x[None], dt[None], A.float(), B[None], C[None], chunk_size, D=D, initial_states=init,
        return_final_states=True,
    )  # fmt: skip
    return y[0], final[0].float()
