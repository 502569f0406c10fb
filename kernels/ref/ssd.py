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


NO_DT_LIMIT = (0.0, float("inf"))


def softplus_dt(
    dt: torch.Tensor, dt_bias: torch.Tensor, dt_limit: tuple[float, float]
) -> torch.Tensor:
    """The step size from in_proj's dt channels: softplus(dt + dt_bias) in fp32, clamped to
    `dt_limit` (the config's time_step_limit; no clamp for the default (0, inf))."""
    dt = torch.nn.functional.softplus(dt.float() + dt_bias)
    return dt if dt_limit == NO_DT_LIMIT else dt.clamp(*dt_limit)


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


def selective_state_update_slots(
    cache: torch.Tensor,  # [num_slots, H, P, N], advanced in place at `slots`
    slots: torch.Tensor,  # [Bt] distinct state slots
    x: torch.Tensor,  # [Bt, H, P]
    dt: torch.Tensor,  # [Bt, H] before bias and softplus (in_proj's dt channels)
    dt_bias: torch.Tensor,  # [H] fp32
    dt_limit: tuple[float, float],
    A: torch.Tensor,  # [H]
    B: torch.Tensor,  # [Bt, G, N]
    C: torch.Tensor,  # [Bt, G, N]
    D: torch.Tensor,  # [H]
) -> torch.Tensor:
    """The Mamba decode step on `cache[slots]`: `softplus_dt`, then `selective_state_update`,
    the new states written back; y [Bt, H, P]."""
    state = cache[slots]
    y = selective_state_update(state, x, softplus_dt(dt, dt_bias, dt_limit), A, B, C, D)
    cache[slots] = state
    return y


def ssd_scan_varlen(
    x: torch.Tensor,  # [L, H, P] the sequences packed
    dt: torch.Tensor,  # [L, H] fp32, after softplus
    A: torch.Tensor,  # [H] fp32
    B: torch.Tensor,  # [L, G, N]
    C: torch.Tensor,  # [L, G, N]
    D: torch.Tensor,  # [H]
    chunk_size: int,
    cu_seqlens: list[int],
    initial_states: list[torch.Tensor | None],  # [H, P, N] a sequence, None: zeros
    points: list[tuple[int, int]],  # (sequence, tokens into it, >= 1)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan packed sequences, one `ssd_scan` a segment between a sequence's points; returns
    (y [L, H, P], the state after each point [len(points), H, P, N] fp32): a sequence's final
    state is the point at its length."""
    y = torch.empty_like(x)
    states = x.new_empty((len(points), *x.shape[1:], B.shape[-1]), dtype=torch.float32)
    for seq, state in enumerate(initial_states):
        s, e = cu_seqlens[seq], cu_seqlens[seq + 1]
        mine = [(off, p) for p, (q, off) in enumerate(points) if q == seq]
        start = 0
        for end in sorted({off for off, _ in mine} | {e - s}):
            seg = slice(s + start, s + end)
            y[seg], state = ssd_scan(x[seg], dt[seg], A, B[seg], C[seg], D, chunk_size, state)
            for off, p in mine:
                if off == end:
                    states[p] = state
            start = end
    return y, states


def add_initial_states(
    y: torch.Tensor,  # [L, H, P] the packed scan's output from zero states, updated in place
    states: torch.Tensor,  # [len(points), H, P, N] fp32 states at the points, updated in place
    dt: torch.Tensor,  # [L, H] fp32, after softplus
    A: torch.Tensor,  # [H] fp32
    C: torch.Tensor,  # [L, G, N]
    cu_seqlens: list[int],
    initial_states: list[torch.Tensor | None],  # [H, P, N] a sequence, None: zeros
    points: list[tuple[int, int]],  # (sequence, tokens into it, >= 1)
) -> None:
    """Turn a scan from zero states into the scan from `initial_states`: the recurrence is
    linear, so a sequence's initial state h0 only adds its decayed image,
        state[t] += exp(sum_{s<=t} dt[s] * A) * h0,   y[t] += C[t] . (that term).
    This lets sequences that resume a cached state share one packed pass with the fresh ones."""
    heads, p, n = y.shape[1], y.shape[2], C.shape[-1]
    groups = C.shape[1]
    for seq, h0 in enumerate(initial_states):
        if h0 is None:
            continue
        s, e = cu_seqlens[seq], cu_seqlens[seq + 1]
        decay = torch.cumsum(dt[s:e].float() * A.float(), dim=0).exp()  # [l, H]
        h0 = h0.float()
        grouped = h0.view(groups, heads // groups, p, n)
        image = torch.einsum("lgn,grpn->lgrp", C[s:e].float(), grouped).reshape(e - s, heads, p)
        y[s:e] = (y[s:e].float() + image * decay[..., None]).to(y.dtype)
        for row, (q, offset) in enumerate(points):
            if q == seq:
                states[row] += decay[offset - 1, :, None, None] * h0
