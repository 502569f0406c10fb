"""Host-to-device helpers (kernels/host_copy.py) on CPU: same values as plain indexing."""

from __future__ import annotations

import pytest
import torch

from hybridserve.kernels.host_copy import copy_into, device_tensor, put_rows, select_rows


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [0, 1], [2, 0, 3], [1, 1, 4], []])
def test_select_rows_is_list_indexing(rows: list[int]) -> None:
    x = torch.randn(5, 7)
    assert torch.equal(select_rows(x, rows), x[rows])


def test_device_tensor_holds_the_values() -> None:
    out = device_tensor([3, 1, 2], torch.long, torch.device("cpu"))
    assert out.tolist() == [3, 1, 2] and out.dtype == torch.long


@pytest.mark.parametrize("rows", [[0, 1, 2], [0], [2, 0, 3], []])
def test_put_rows_is_list_assignment(rows: list[int]) -> None:
    values = torch.arange(len(rows)) + 10
    got, want = torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long)
    put_rows(got, rows, values)
    want[rows] = values
    assert torch.equal(got, want)


def test_copy_into_fills_the_front_of_a_buffer() -> None:
    dst = torch.full((5,), -1, dtype=torch.int32)
    copy_into(dst, [4, 5, 6])
    assert dst.tolist() == [4, 5, 6, -1, -1]
