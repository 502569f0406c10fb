"""The engine's cumulative step counters (EngineStats: step time, decode-only steps, time blocked
reading tokens back), which the worker exports to Prometheus and bench/serving.py reports."""

from __future__ import annotations

import pytest

from hybridserve import LLM, SamplingParams


@pytest.mark.parametrize("overlap", [False, True])
def test_step_counters_add_up(overlap: bool) -> None:
    engine = LLM("tiny", overlap_schedule=overlap).engine
    params = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)
    for n in (5, 40, 90):
        engine.add_request(list(range(3, 3 + n)), params)
    steps = decode_steps = 0
    total = decode_total = 0.0
    while engine.has_work():
        batch_is_decode = not engine.scheduler.waiting and all(
            not r.in_prefill for r in engine.scheduler.running
        )
        before = engine.stats().steps
        engine.step()
        stats = engine.stats()
        if stats.steps > before:  # a step ran a batch (the last call only reads back)
            steps += 1
            total += stats.last_step_seconds
            if batch_is_decode:
                decode_steps += 1
                decode_total += stats.last_step_seconds
    stats = engine.stats()
    assert (stats.steps, stats.decode_steps) == (steps, decode_steps)
    assert 0 < decode_steps < steps
    assert stats.step_seconds == pytest.approx(total)
    assert stats.decode_step_seconds == pytest.approx(decode_total)
    assert stats.device_wait_seconds > 0
    if not overlap:  # (overlapped, the last read-back runs after the last step)
        assert stats.device_wait_seconds < stats.step_seconds
