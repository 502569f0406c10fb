"""Routing policies: the documented choices, tie-breaking and the cache_aware cost."""

from __future__ import annotations

from collections import Counter

import pytest

from hybridserve.errors import ConfigError
from hybridserve.router.policies import POLICIES, CacheAwarePolicy, Candidate, create_policy


def _c(gid: str, in_flight: int = 0, pending: int = 0, active: int = 0, cached: int = 0):
    return Candidate(gid, in_flight, pending, active, cached)


def test_every_policy_is_created_by_name_and_picks_a_candidate():
    assert set(POLICIES) == {"round_robin", "random", "least_load", "power_of_two", "cache_aware"}
    candidates = [_c("a"), _c("b"), _c("c")]
    for name in POLICIES:
        assert create_policy(name, seed=0).select(10, candidates) in candidates
    with pytest.raises(ConfigError, match="policy"):
        create_policy("nope")


def test_round_robin_cycles_in_group_order():
    policy = create_policy("round_robin")
    picks = [policy.select(1, [_c("b"), _c("a")]).group_id for _ in range(4)]
    assert picks == ["a", "b", "a", "b"]


def test_least_load_and_power_of_two_avoid_the_busy_group():
    candidates = [_c("a", 3, 0, 300), _c("b", 1, 0, 10)]
    assert create_policy("least_load").select(5, candidates).group_id == "b"
    assert create_policy("power_of_two", seed=1).select(5, candidates).group_id == "b"


def test_ties_are_broken_randomly_not_by_index():
    policy = create_policy("least_load", seed=0)
    picks = Counter(policy.select(5, [_c("a"), _c("b"), _c("c")]).group_id for _ in range(300))
    assert set(picks) == {"a", "b", "c"} and min(picks.values()) > 50


def test_cache_aware_trades_cached_tokens_against_load():
    policy = CacheAwarePolicy(prefill_weight=1.0, decode_weight=64.0, seed=0)
    # 500 cached tokens outweigh two running requests (128 token-equivalents) ...
    hot, idle = _c("hot", 2, 0, 900, cached=500), _c("idle")
    assert policy.select(600, [hot, idle]).group_id == "hot"
    # ... but not a long prefill queue in front of the request
    queued = _c("hot", 2, 1000, 900, cached=500)
    assert policy.select(600, [queued, idle]).group_id == "idle"
    assert policy.cost(600, hot) == 600 - 500 + 64 * 2


def test_cache_aware_counts_kv_without_a_state_at_the_affinity_weight():
    """A group holding the prefix's KV (no state on it yet) wins over an idle one while the
    saved prefill (0.5 x 500 tokens) outweighs its extra load (64 per running request)."""
    held = Candidate("held", 2, 0, 900, cached_tokens=0, affinity_tokens=500)
    idle = _c("idle")
    assert CacheAwarePolicy(seed=0).select(600, [held, idle]).group_id == "held"
    assert CacheAwarePolicy(affinity_weight=0.0, seed=0).select(600, [held, idle]) == idle
    busier = Candidate("held", 4, 0, 900, cached_tokens=0, affinity_tokens=500)
    assert CacheAwarePolicy(seed=0).select(600, [busier, idle]) == idle
    assert CacheAwarePolicy(seed=0).cost(600, held) == 600 - 0.5 * 500 + 64 * 2


def test_cache_aware_keeps_affinity_inside_the_load_window_only():
    policy = CacheAwarePolicy(balance_abs=4, balance_rel=1.5, seed=0)
    overloaded = _c("hot", in_flight=10, cached=10_000)
    assert policy.select(10_001, [overloaded, _c("a", 1), _c("b", 2)]).group_id == "a"
    inside = _c("hot", in_flight=5, cached=10_000)
    assert policy.select(10_001, [inside, _c("a", 1), _c("b", 2)]).group_id == "hot"


def test_router_flags_build_the_policy_options():
    import argparse

    from hybridserve.router.cli_args import add_router_arguments, router_config

    parser = argparse.ArgumentParser()
    add_router_arguments(parser)
    argv = ["--decode-weight", "8", "--affinity-weight", "0.25", "--worker", "h:1"]
    config = router_config(parser.parse_args(argv))
    assert config.groups == ("h:1",) and config.policy_options["decode_weight"] == 8.0
    policy = create_policy(config.policy, **config.policy_options)
    assert isinstance(policy, CacheAwarePolicy) and policy.decode_weight == 8.0
    assert policy.affinity_weight == 0.25
    config = router_config(parser.parse_args(["--policy", "round_robin"]))
    assert create_policy(config.policy, **config.policy_options).name == "round_robin"
