"""KVPagePool and MambaStatePool: allocation, freeing, double frees, token slots."""

from __future__ import annotations

import pytest
import torch

from hybridserve.workers.cache.pools import KVPagePool, MambaStatePool


def test_kv_pool_hands_out_pages_1_to_n_and_never_page_0() -> None:
    pool = KVPagePool(num_pages=5, page_size=4)
    pages = pool.alloc(5)
    assert pages is not None and sorted(pages) == [1, 2, 3, 4, 5]
    assert pool.num_free == 0 and pool.num_total == 5
    assert pool.alloc(1) is None


def test_kv_pool_alloc_is_all_or_nothing() -> None:
    pool = KVPagePool(num_pages=3, page_size=2)
    assert pool.alloc(4) is None
    assert pool.num_free == 3
    assert pool.alloc(0) == []
    with pytest.raises(ValueError):
        pool.alloc(-1)


def test_kv_pool_free_and_reuse() -> None:
    pool = KVPagePool(num_pages=4, page_size=2)
    pages = pool.alloc(3)
    assert pages is not None
    pool.free(pages[:2])
    assert pool.num_free == 3
    assert not pool.is_allocated(pages[0]) and pool.is_allocated(pages[2])
    again = pool.alloc(3)
    assert again is not None and pages[2] not in again


@pytest.mark.parametrize("bad", [[0], [5], [-1]])
def test_kv_pool_free_out_of_range_raises(bad: list[int]) -> None:
    pool = KVPagePool(num_pages=4, page_size=2)
    with pytest.raises(ValueError, match="out of range"):
        pool.free(bad)


def test_kv_pool_double_free_raises_and_frees_nothing() -> None:
    pool = KVPagePool(num_pages=4, page_size=2)
    pages = pool.alloc(2)
    assert pages is not None
    pool.free([pages[0]])
    with pytest.raises(ValueError, match="double free"):
        pool.free([pages[1], pages[0]])
    assert pool.is_allocated(pages[1]) and pool.num_free == 3
    with pytest.raises(ValueError, match="double free"):
        pool.free([pages[1], pages[1]])
    assert pool.num_free == 3


def test_slots_of_lays_tokens_over_pages() -> None:
    pool = KVPagePool(num_pages=8, page_size=4)
    slots = pool.slots_of([3, 1], 6)
    assert slots.dtype == torch.int64
    assert slots.tolist() == [12, 13, 14, 15, 4, 5]
    assert pool.slots_of([], 0).tolist() == []
    with pytest.raises(ValueError):
        pool.slots_of([1], 5)


def test_page_size_one_is_token_granular() -> None:
    pool = KVPagePool(num_pages=3, page_size=1)
    pages = pool.alloc(3)
    assert pages is not None
    assert pool.slots_of(pages, 3).tolist() == pages
    assert pool.pages_of(pool.slots_of(pages, 3)) == pages


def test_pages_of_inverts_slots_of_and_validates() -> None:
    pool = KVPagePool(num_pages=8, page_size=2)
    pages = pool.alloc(3)
    assert pages is not None
    assert pool.pages_of(pool.slots_of(pages, 6)) == pages
    with pytest.raises(ValueError, match="whole pages"):
        pool.pages_of(torch.tensor([2 * pages[0] + 1, 2 * pages[0]]))
    with pytest.raises(ValueError, match="whole pages"):
        pool.pages_of(torch.tensor([2 * pages[0]]))
    free_page = next(p for p in range(1, 9) if not pool.is_allocated(p))
    with pytest.raises(ValueError, match="unallocated"):
        pool.pages_of(pool.slots_of([free_page], 2))


def test_state_pool_alloc_free_double_free() -> None:
    pool = MambaStatePool(num_slots=2)
    a, b = pool.alloc(), pool.alloc()
    assert {a, b} == {1, 2} and pool.alloc() is None and pool.num_free == 0
    assert pool.num_total == 2
    assert a is not None
    pool.free(a)
    assert pool.num_free == 1
    with pytest.raises(ValueError, match="double free"):
        pool.free(a)
    with pytest.raises(ValueError, match="out of range"):
        pool.free(0)
    assert pool.alloc() == a
