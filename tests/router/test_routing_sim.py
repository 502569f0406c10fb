"""The routing simulator: real policies, prefix index, schedulers and caches on small workloads."""

from __future__ import annotations

from bench.routing_sim import simulate
from bench.routing_sim_group import SimGroupConfig
from bench.routing_workloads import multi_turn, oracle_hit_ratio, random_prompts, shared_prefix

# 16 system prompts of 256 tokens over 4 groups whose caches hold ~2000 tokens each: a group can
# keep its share of the prefixes (plus its running requests) but not all of them.
CFG = SimGroupConfig(kv_pages=2000, state_slots=64)


def test_cache_aware_doubles_round_robin_hits_and_stays_balanced():
    requests = shared_prefix(16, 10, 256, 16, output_len=64, rate=200.0, seed=0)
    oracle = oracle_hit_ratio(requests)
    rr = simulate(requests, "round_robin", 4, CFG, seed=0)
    aware = simulate(requests, "cache_aware", 4, CFG, seed=0)
    assert aware.hit_ratio >= 2 * rr.hit_ratio
    assert 0.8 * oracle <= aware.hit_ratio <= oracle
    assert aware.imbalance < 1.5
    # the router's prediction is the groups' own count while the index is in sync
    assert abs(aware.predicted_ratio - aware.hit_ratio) < 0.02


def test_simulation_is_deterministic_and_random_prompts_share_nothing():
    requests = random_prompts(40, 64, 8, rate=100.0, seed=1)
    first = simulate(requests, "cache_aware", 4, CFG, seed=3)
    again = simulate(requests, "cache_aware", 4, CFG, seed=3)
    assert (first.hit_ratio, first.imbalance) == (again.hit_ratio, again.imbalance)
    assert first.hit_ratio < 0.05 and oracle_hit_ratio(requests) < 0.05


def test_multi_turn_follow_ups_hit_their_previous_turn():
    requests = multi_turn(8, 3, 128, 16, 16, rate=20.0, turn_gap_s=0.5, seed=0)
    aware = simulate(requests, "cache_aware", 4, SimGroupConfig(), seed=0)
    assert aware.hit_ratio > 0.5 * oracle_hit_ratio(requests) > 0
