"""The routing simulator skeleton runs the real policies and index on a shared-prefix workload."""

from __future__ import annotations

from bench.routing_sim import SimConfig, shared_prefix_workload, simulate


def test_cache_aware_beats_round_robin_on_shared_prefixes():
    prompts = shared_prefix_workload(8, 6, 128, 16, seed=0)
    cfg = SimConfig(groups=4, kv_pages=4000, state_slots=64)
    oracle = simulate(prompts, "round_robin", SimConfig(groups=1, kv_pages=10**6))
    rr = simulate(prompts, "round_robin", cfg)
    aware = simulate(prompts, "cache_aware", cfg)
    assert rr["hit_ratio"] < aware["hit_ratio"] <= oracle["hit_ratio"]
