"""block_hashes: chained blake2b-64 hashes of full token blocks, stable across processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve import block_hash as block_hash_module
from hybridserve.block_hash import block_hashes


def _expected(tokens: list[int], parent: int | None) -> int:
    h = hashlib.blake2b(digest_size=8)
    if parent is not None:
        h.update(parent.to_bytes(8, "little"))
    h.update(b"".join(t.to_bytes(4, "little", signed=True) for t in tokens))
    return int.from_bytes(h.digest(), "little")


def test_matches_the_documented_construction() -> None:
    tokens = [1, 2, 3, 4, 5, 6, 7]
    first = _expected([1, 2, 3], None)
    assert block_hashes(tokens, 3) == [first, _expected([4, 5, 6], first)]
    assert 0 <= first < 2**64


def test_partial_blocks_are_ignored() -> None:
    assert block_hashes([1, 2], 3) == []
    assert block_hashes([1, 2, 3, 4], 3) == block_hashes([1, 2, 3], 3)


def test_no_torch_import_and_same_value_in_another_process() -> None:
    path = block_hash_module.__file__
    code = (
        "import importlib.util as u, sys;"
        f"s = u.spec_from_file_location('bh', {path!r}); m = u.module_from_spec(s);"
        "s.loader.exec_module(m);"
        "print(m.block_hashes(list(range(40)), 16)); print('torch' in sys.modules)"
    )
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == str(block_hashes(list(range(40)), 16))
    assert out[1] == "False"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 2**31 - 1), max_size=40),
    st.lists(st.integers(0, 2**31 - 1), max_size=40),
    st.integers(1, 8),
)
def test_chaining_splits_at_block_boundaries(a: list[int], b: list[int], bs: int) -> None:
    a = a[: len(a) - len(a) % bs]
    head = block_hashes(a, bs)
    parent = head[-1] if head else None
    assert block_hashes(a + b, bs) == head + block_hashes(b, bs, parent)
