"""Host-to-device helpers (kernels/host_copy.py) on CPU: same values as plain indexing."""

from __future__ import annotations

import pytest
import torch

from hybridserve.kernels.host_copy import device_tensor, select_rows


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [0, 1], [2, 0, 3], [1, 1, 4], []])
def test_select_rows_is_list_indexing(rows: list[int]) -> None:
    x = torch.randn(5, 7)
    assert torch.equal(select_rows(x, rows), x[rows])


def test_device_tensor_holds_the_values() -> None:
    out = device_tensor([3, 1, 2], torch.long, torch.device("cpu"))
    assert out.tolist() == [3, 1, 2] and out.dtype == torch.long
