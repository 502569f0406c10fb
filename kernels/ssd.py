"""Mamba-2 chunked scan (SSD) for prefill on GPU, from mamba-ssm's Triton kernels.

A batch's sequences run packed, in one pass (`seq_idx` resets the state between them), and their
states at any point come from `chunk_state_varlen` over the chunk-boundary states. That pass
starts every sequence from zero; a sequence resuming a cached state gets its initial state's
contribution added after (`add_initial_states`: the recurrence is linear in it), instead of a
scan call of its own (~1 ms of host time each). Oracle: kernels/ref/ssd.py."""

from __future__ import annotations

import functools

import numpy as np
import torch
from mamba_ssm.ops.triton.ssd_bmm import _bmm_chunk_fwd
from mamba_ssm.ops.triton.ssd_chunk_scan import _chunk_scan_fwd
from mamba_ssm.ops.triton.ssd_chunk_state import (
    _chunk_cumsum_fwd,
    _chunk_state_fwd,
    chunk_state_varlen,
)
from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
from mamba_ssm.ops.triton.ssd_state_passing import _state_passing_fwd

from hybridserve.kernels.host_copy import device_tensor
from hybridserve.kernels.ref.ssd import add_initial_states


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
    """Returns (y [L, H, P], the state after each point [len(points), H, P, N] fp32)."""
    states = x.new_empty((len(points), *x.shape[1:], B.shape[-1]), dtype=torch.float32)
    seq_idx, rounds = _packed_indices(tuple(cu_seqlens), tuple(points), x.device)
    y, chunk = _scan_packed(x, dt, A, B, C, D, chunk_size, seq_idx)
    for bounds, rows in rounds:
        at = chunk_state_varlen(B, x, chunk.dt, chunk.dA_cumsum, bounds, chunk.states)
        states[rows] = at[::2]
    add_initial_states(y, states, dt, A, C, cu_seqlens, initial_states, points)
    return y, states


@functools.lru_cache(maxsize=8)
def _packed_indices(
    cu_seqlens: tuple[int, ...],
    points: tuple[tuple[int, int], ...],
    device: torch.device,
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """The packed pass's device indices, once a batch (its Mamba layers all ask the same):
    `seq_idx` [1, L] and, a round of points each, the flat (start, point) bounds for
    chunk_state_varlen (the pairs in between, (point, next start), are computed and dropped)
    and the points' rows in the output."""
    lengths = np.diff(np.asarray(cu_seqlens))
    seq_idx = device_tensor(np.repeat(np.arange(len(lengths)), lengths), torch.int32, device)
    rounds = []
    for rows in _rounds(points):
        starts = [cu_seqlens[points[p][0]] for p in rows]
        bounds = [b for p, s in zip(rows, starts, strict=True) for b in (s, s + points[p][1])]
        rounds.append(
            (device_tensor(bounds, torch.int32, device), device_tensor(rows, torch.long, device))
        )
    return seq_idx[None], rounds


def _rounds(points: tuple[tuple[int, int], ...]) -> list[list[int]]:
    """The points, split into rounds of at most one point a sequence, each in
    sequence order, so a round's flat (start, point) bounds never decrease (chunk_state_varlen
    reads every neighbouring pair, and a decreasing one would read before its buffers)."""
    rounds: list[list[int]] = []
    taken: dict[int, int] = {}
    for p in sorted(range(len(points)), key=lambda p: points[p]):
        seq = points[p][0]
        r = taken[seq] = taken.get(seq, -1) + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(p)
    return rounds


class _Chunks:
    """What the packed pass leaves for reading states at any point: chunk-boundary states (fp32,
    [chunks, H, P, N]) and the chunked dt and its cumulative log-decay ([H, chunks, chunk_size])."""

    def __init__(self, states: torch.Tensor, dt: torch.Tensor, dA_cumsum: torch.Tensor) -> None:
        self.states, self.dt, self.dA_cumsum = states, dt, dA_cumsum


def _scan_packed(x, dt, A, B, C, D, chunk_size: int, seq_idx: torch.Tensor):
    """mamba-ssm's forward (`_mamba_chunk_scan_combined_fwd`) over all sequences, with the
    chunk-boundary states kept in fp32 (its own pass rounds them to the activations' dtype)."""
    x4, B4, C4 = x[None], B[None], C[None]
    dA_cumsum, dt_c = _chunk_cumsum_fwd(dt[None], A.float(), chunk_size)
    local = _chunk_state_fwd(B4, x4, dt_c, dA_cumsum, seq_idx=seq_idx, states_in_fp32=True)
    passed, _ = _state_passing_fwd(
        local.flatten(-2), dA_cumsum[:, :, :, -1], seq_idx=seq_idx, chunk_size=chunk_size,
        out_dtype=torch.float32,
    )  # fmt: skip
    passed = passed.view(local.shape)
    cb = _bmm_chunk_fwd(C4, B4, chunk_size, seq_idx=seq_idx, output_dtype=torch.float32)
    y, _ = _chunk_scan_fwd(cb, x4, dt_c, dA_cumsum, C4, passed, D=D, seq_idx=seq_idx)
    return y[0], _Chunks(passed[0], dt_c[0], dA_cumsum[0])
