"""The Mamba-2 prefill scan: mamba-ssm's kernels (one sequence, and packed sequences with states
at any point) against the reference on the GPU; the reference's own rules on CPU."""

from __future__ import annotations

import pytest
import torch

from hybridserve import kernels
from hybridserve.kernels import ref
from tests.kernels.kernel_checks import BF16_REL, gpu, offsets, poison, rel_err


def ssd_inputs(length: int, heads: int, p: int, n: int, groups: int, dev: str):
    """x, dt, A, B, C, D as the layer passes them (x, B and C strided views of one activation)."""
    act = torch.randn(length, heads * p + 2 * groups * n, device=dev, dtype=torch.bfloat16)
    x = act[:, : heads * p].view(length, heads, p)
    B = act[:, heads * p : heads * p + groups * n].view(length, groups, n)
    C = act[:, heads * p + groups * n :].view(length, groups, n)
    dt = torch.rand(length, heads, device=dev) * 0.1
    A, D = -torch.rand(heads, device=dev) * 4, torch.randn(heads, device=dev)
    return x, dt, A, B, C, D


def varlen_case(lengths: list[int], continuing: list[bool], heads: int, p: int, n: int, dev: str):
    """Packed sequences, initial states where `continuing`, and points: every sequence's end,
    then 1, 128, 256 and an odd middle where they fall inside it (chunk size 128)."""
    cu = offsets(lengths)
    inits = [torch.randn(heads, p, n, device=dev) if c else None for c in continuing]
    points = [(i, n_) for i, n_ in enumerate(lengths)]
    points += [(i, off) for i, n_ in enumerate(lengths) for off in (1, 128, 256, n_ // 2 + 1)
               if off < n_]  # fmt: skip
    return cu, inits, points


@gpu
@pytest.mark.parametrize(
    ("lengths", "continuing"),
    [
        ([1000], [False]),
        ([17, 1, 300, 4097, 256], [False, True, False, True, False]),
        ([5 + (i * 37) % 200 for i in range(33)], [i % 5 == 0 for i in range(33)]),
        ([129, 40], [True, True]),
    ],
)
@pytest.mark.parametrize(("heads", "p", "n", "groups"), [(64, 64, 128, 8), (6, 20, 24, 2)])
def test_ssd_scan_varlen(
    lengths: list[int], continuing: list[bool], heads: int, p: int, n: int, groups: int
) -> None:
    """Packed prefill scan: outputs, final states and states at snapshot points, against the
    reference scanning each sequence segment by segment."""
    from hybridserve.kernels import ssd

    x, dt, A, B, C, D = ssd_inputs(sum(lengths), heads, p, n, groups, "cuda")
    cu, inits, points = varlen_case(lengths, continuing, heads, p, n, "cuda")
    args = (x, dt, A, B, C, D, 128, cu, inits, points)
    want_y, want_states = ref.ssd_scan_varlen(*args)
    poison()
    y, states = ssd.ssd_scan_varlen(*args)
    assert rel_err(y, want_y) < BF16_REL
    assert states.dtype == torch.float32
    for i in range(len(points)):
        assert rel_err(states[i], want_states[i]) < BF16_REL, points[i]


def test_ssd_scan_varlen_reference_is_the_whole_sequence_scan() -> None:
    """Cutting a sequence at its points changes nothing: y and every state equal one scan."""
    lengths, continuing = [9, 1, 20], [False, True, True]
    x, dt, A, B, C, D = ssd_inputs(sum(lengths), 4, 8, 16, 2, "cpu")
    x, B, C = x.float(), B.float(), C.float()
    cu, inits, points = varlen_case(lengths, continuing, 4, 8, 16, "cpu")
    y, states = ref.ssd_scan_varlen(x, dt, A, B, C, D, 4, cu, inits, points)
    for i, (s, e) in enumerate(zip(cu, cu[1:])):
        whole_y, _ = ref.ssd_scan(x[s:e], dt[s:e], A, B[s:e], C[s:e], D, 4, inits[i])
        torch.testing.assert_close(y[s:e], whole_y)
    for (i, off), state in zip(points, states, strict=True):
        s = cu[i]
        sl = slice(s, s + off)
        _, want = ref.ssd_scan(x[sl], dt[sl], A, B[sl], C[sl], D, 4, inits[i])
        torch.testing.assert_close(state, want)
    assert torch.equal(kernels.ssd_scan_varlen(x, dt, A, B, C, D, 4, cu, inits, points)[1], states)


def test_initial_states_add_to_a_scan_from_zero() -> None:
    """The GPU path's rule, on the reference: a packed scan from zero states plus each initial
    state's decayed image equals the scan from those states (outputs and every point's state)."""
    lengths, continuing = [9, 1, 20, 6], [True, True, False, True]
    x, dt, A, B, C, D = ssd_inputs(sum(lengths), 4, 8, 16, 2, "cpu")
    x, B, C = x.float(), B.float(), C.float()
    cu, inits, points = varlen_case(lengths, continuing, 4, 8, 16, "cpu")
    want_y, want_states = ref.ssd_scan_varlen(x, dt, A, B, C, D, 4, cu, inits, points)
    y, states = ref.ssd_scan_varlen(x, dt, A, B, C, D, 4, cu, [None] * len(lengths), points)
    assert not torch.allclose(states, want_states)  # the initial states matter here
    ref.add_initial_states(y, states, dt, A, C, cu, inits, points)
    torch.testing.assert_close(y, want_y)
    torch.testing.assert_close(states, want_states)


def test_conv1d_states_at_reaches_into_the_initial_state() -> None:
    """Each point's state is the last K-1 inputs before it, the initial state filling in."""
    lengths = [5, 1, 2]
    cu, x = offsets(lengths), torch.randn(8, 6)
    init = torch.randn(3, 6, 3)
    points = [(0, 5), (0, 1), (1, 1), (2, 2), (0, 3)]
    got = ref.conv1d_states_at(x, init, cu, points)
    for (i, off), state in zip(points, got, strict=True):
        history = torch.cat([init[i], x[cu[i] : cu[i] + off].T], dim=-1)
        assert torch.equal(state, history[:, -3:])


@gpu
@pytest.mark.parametrize(
    ("length", "with_state"), [(1, True), (127, False), (1000, True), (4097, False)]
)
@pytest.mark.parametrize(("heads", "p", "n", "groups"), [(64, 64, 128, 8), (6, 20, 24, 2)])
def test_ssd_scan(length: int, with_state: bool, heads: int, p: int, n: int, groups: int) -> None:
    """mamba-ssm's chunk scan, one sequence from an optional state: outputs and final state."""
    from hybridserve.kernels import ssd

    x, dt, A, B, C, D = ssd_inputs(length, heads, p, n, groups, "cuda")
    init = torch.randn(heads, p, n, device="cuda") if with_state else None
    want_y, want_state = ref.ssd_scan(x, dt, A, B, C, D, 128, init)
    poison()
    y, state = ssd.ssd_scan(x, dt, A, B, C, D, 128, init)
    assert rel_err(y, want_y) < BF16_REL
    assert state.dtype == torch.float32 and rel_err(state, want_state) < BF16_REL
