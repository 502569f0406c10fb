"""Range partitioning, shard reads (incl. a padded last vocab part) and tp=1 no-op collectives."""

from __future__ import annotations

import pytest
import torch

from hybridserve.errors import ConfigError
from hybridserve.workers.distributed import ParallelContext, Shard, head_range, split_range


def test_split_range_covers_everything_once():
    parts = [split_range(10, r, 4) for r in range(4)]
    assert parts == [(0, 3), (3, 6), (6, 8), (8, 10)]


def test_head_range_replicates_when_tp_exceeds_heads():
    assert [head_range(2, r, 4, "kv", True) for r in range(4)] == [(0, 1), (0, 1), (1, 2), (1, 2)]
    assert head_range(8, 3, 4, "heads", False) == (6, 8)
    with pytest.raises(ConfigError, match="heads: 2 cannot be split over tp=4"):
        head_range(2, 0, 4, "heads", False)
    with pytest.raises(ConfigError, match="kv: 2 cannot be split over tp=3"):
        head_range(2, 0, 3, "kv", True)


def test_shard_reads_ranges_and_zero_pads():
    full = torch.arange(24.0).view(6, 4)
    shard = Shard((6, 4), 0, ((0, 1), (4, 6)))
    assert torch.equal(shard.read(full), full[[0, 4, 5]])
    cols = Shard((6, 4), 1, ((1, 3),), fixed=((0, 2, 4),))
    assert torch.equal(cols.read(full), full[2:4, 1:3])
    dst = torch.full((3, 4), 7.0)
    Shard((6, 4), 0, ((4, 6),)).load_into(dst, full)  # the last rank of a padded vocab
    assert torch.equal(dst[:2], full[4:]) and not dst[2].any()


def test_collectives_are_noops_at_tp1():
    ctx = ParallelContext()
    t = torch.ones(3)
    assert ctx.all_reduce(t) is t and ctx.all_gather(t, 0) is t
    assert ctx.broadcast_object({"a": 1}) == {"a": 1}


def test_tp2_without_a_group_builds_but_cannot_communicate():
    ctx = ParallelContext.for_rank(1, 2)
    assert (ctx.ep_rank, ctx.expert_tp_size) == (1, 1)
    with pytest.raises(RuntimeError, match="no process group"):
        ctx.all_reduce(torch.ones(1))
    with pytest.raises(ConfigError, match="ep: 3 must divide tp=4"):
        ParallelContext.for_rank(0, 4, 3)
