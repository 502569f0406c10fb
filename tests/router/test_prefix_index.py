"""The prefix index on hand-made events: usable prefixes, tails, removals, clears."""

from __future__ import annotations

from hybridserve.block_hash import block_hashes, hash_block
from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import kv_wire as wire

BS = 4
TOKENS = list(range(100, 120))
H = block_hashes(TOKENS, BS)


def _store_path(index: PrefixIndex, group: str, n_blocks: int) -> None:
    index.apply(group, [wire.BlockStored(tuple(H[:n_blocks]), None, BS)])


def test_usable_prefix_is_the_deepest_state_on_the_path():
    index = PrefixIndex(BS)
    _store_path(index, "a", 4)
    _store_path(index, "b", 4)
    assert index.usable_prefix(TOKENS) == {}  # KV without states is not usable
    assert index.affinity(H, now=0.0) == {"a": 16, "b": 16}
    index.apply("a", [wire.StateStored(H[1], 8, None), wire.StateStored(H[3], 16, None)])
    index.apply("b", [wire.StateStored(H[1], 8, None)])
    assert index.usable_prefix(TOKENS) == {"a": 16, "b": 8}
    assert index.usable_prefix(TOKENS[:16]) == {"a": 8, "b": 8}  # the last token always runs
    index.apply("a", [wire.StateRemoved(H[3], 16, None)])
    assert index.usable_prefix(TOKENS) == {"a": 8, "b": 8}
    index.apply("b", [wire.AllCleared()])
    assert index.usable_prefix(TOKENS) == {"a": 8} and index.num_blocks("b") == 0


def test_unaligned_states_need_their_tail_to_match():
    index = PrefixIndex(BS)
    _store_path(index, "a", 2)
    tail = hash_block(TOKENS[8:10], H[1])
    index.apply("a", [wire.StateStored(H[1], 10, tail), wire.StateStored(None, 2, None)])
    assert index.usable_prefix(TOKENS) == {"a": 10}
    other = TOKENS[:9] + [7] + TOKENS[10:]  # differs inside the tail
    assert index.usable_prefix(other) == {}
    index.clear_group("a")
    assert index.usable_prefix(TOKENS) == {} and index.num_states("a") == 0


def test_a_dispatched_prompt_counts_for_affinity_until_its_ttl():
    index = PrefixIndex(BS, pending_ttl_s=5.0)
    index.note_dispatch("a", index.hashes(TOKENS[:10]), now=100.0)  # two full blocks
    _store_path(index, "b", 1)
    assert index.affinity(H, now=101.0) == {"a": 8, "b": 4}
    assert index.usable_prefix(TOKENS) == {}  # pending blocks never count as cached
    index.note_dispatch("a", H[:1], now=103.0)  # the first block again, later
    assert index.affinity(H, now=105.5) == {"a": 4, "b": 4}
    assert index.affinity(H, now=108.5) == {"b": 4}
    _store_path(index, "a", 3)  # events arrived: KV counts without expiry
    assert index.affinity(H, now=1e6) == {"a": 12, "b": 4}


def test_precomputed_hashes_give_the_same_prediction():
    index = PrefixIndex(BS)
    _store_path(index, "a", 4)
    index.apply("a", [wire.StateStored(H[1], 8, None), wire.StateStored(H[3], 16, None)])
    for n in (5, 16, 17, 20):
        tokens = TOKENS[:n]
        assert index.usable_prefix(tokens, index.hashes(tokens)) == index.usable_prefix(tokens)
