"""Mamba-2 state-space scan (SSD), chunked for prefill and one-step for decode (reference).

Per head h with group g = h // (H/G), and dt already through softplus (+ limit clamp):
    state[t] = exp(dt[t]*A[h]) * state[t-1] + dt[t] * outer(x[t], B[t, g])     # [P, N], fp32
    y[t]     = state[t] @ C[t, g] + D[h] * x[t]
"""

from __future__ import annotations

import torch


def ssd_scan(
    x: torch.Tensor,  # [L, H, P]
    dt: torch.Tensor,  # [L, H] fp32, after softplus
    A: torch.Tensor,  # [H] fp32, negative
    B: torch.Tensor,  # [L, G, N]
    C: torch.Tensor,  # [L, G, N]
    D: torch.Tensor,  # [H]
    chunk_size: int,
    initial_state: torch.Tensor | None = None,  # [H, P, N]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan one sequence; returns (y [L, H, P] in x's dtype, final state [H, P, N] fp32)."""
    L, H, P = x.shape
    rep = H // B.shape[1]
    xf = x.float()
    Bf = B.float().repeat_interleave(rep, dim=1)  # [L, H, N]
    Cf = C.float().repeat_interleave(rep, dim=1)
    state = (
        initial_state.float().clone()
        if initial_state is not None
        else x.new_zeros(H, P, B.shape[-1], dtype=torch.float32)
    )
    ys = []
    for s in range(0, L, chunk_size):
        e = min(s + chunk_size, L)
        xc, dtc, Bc, Cc = xf[s:e], dt[s:e].float(), Bf[s:e], Cf[s:e]
        acum = torch.cumsum(dtc * A.float(), dim=0)  # [l, H] log-decay from the chunk start
        seg = acum[:, None, :] - acum[None, :, :]  # [t, s, H]
        causal = torch.ones(e - s, e - s, dtype=torch.bool, device=x.device).tril()
        decay = torch.exp(seg.masked_fill(~causal[..., None], float("-inf")))
        scores = torch.einsum("thn,shn->tsh", Cc, Bc) * decay
        xdt = xc * dtc[..., None]  # [l, H, P]
        y = torch.einsum("tsh,shp->thp", scores, xdt)
        y = y + torch.einsum("thn,hpn->thp", Cc, state) * torch.exp(acum)[..., None]
        to_end = torch.exp(acum[-1:] - acum)  # [l, H]
        state = state * torch.exp(acum[-1])[:, None, None] + torch.einsum(
            "lhp,lhn->hpn", xdt * to_end[..., None], Bc
        )
        ys.append(y + D.float()[None, :, None] * xc)
    return torch.cat(ys).to(x.dtype), state


def selective_state_update(
    state: torch.Tensor,  # [Bt, H, P, N], updated in place
    x: torch.Tensor,  # [Bt, H, P]
    dt: torch.Tensor,  # [Bt, H] fp32, after softplus
    A: torch.Tensor,  # [H]
    B: torch.Tensor,  # [Bt, G, N]
    C: torch.Tensor,  # [Bt, G, N]
    D: torch.Tensor,  # [H]
) -> torch.Tensor:
    """One decode step for a batch of sequences; returns y [Bt, H, P] in x's dtype."""
    rep = x.shape[1] // B.shape[1]
    Bf = B.float().repeat_interleave(rep, dim=1)  # [Bt, H, N]
    Cf = C.float().repeat_interleave(rep, dim=1)
    dtf = dt.float()
    decay = torch.exp(dtf * A.float())[..., None, None]  # [Bt, H, 1, 1]
    new = state.float() * decay + (dtf[..., None] * x.float())[..., None] * Bf[:, :, None, :]
    state.copy_(new.to(state.dtype))
    y = torch.einsum("bhpn,bhn->bhp", new, Cf) + D.float()[None, :, None] * x.float()
    return y.to(x.dtype)
