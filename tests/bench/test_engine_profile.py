"""bench/engine_profile.py `span_shares`: what each kernel adds to a stretch of GPU work whose
kernels overlap (programmatic dependent launch) and leave gaps."""

from __future__ import annotations

import pytest

from bench.engine_profile import span_shares


def kernel(name: str, ts: float, dur: float) -> dict:
    return {"name": name, "ts": ts, "dur": dur}


def test_overlap_counts_once_and_gaps_are_idle() -> None:
    shares, span, idle = span_shares(
        [
            kernel("gemv", 20.0, 2.0),  # after a 5 us gap
            kernel("norm", 0.0, 10.0),
            kernel("gemv", 5.0, 10.0),  # starts before norm ends: adds 5
            kernel("tiny", 6.0, 1.0),  # inside gemv: adds nothing
        ]
    )
    by_name = {s.name: s for s in shares}
    assert span == 22.0 and idle == 5.0
    assert by_name["gemv"].count == 2 and by_name["gemv"].duration_us == 12.0
    assert by_name["gemv"].added_us == pytest.approx(7.0)
    assert by_name["norm"].added_us == 10.0 and by_name["tiny"].added_us == 0.0
    assert [s.name for s in shares] == ["norm", "gemv", "tiny"]  # most added first
    assert sum(s.added_us for s in shares) + idle == pytest.approx(span)


def test_no_kernels() -> None:
    assert span_shares([]) == ([], 0.0, 0.0)


def test_decoding_holds_the_prompts_past_prefill_and_aborts_them_at_exit() -> None:
    from bench.engine_profile import decoding
    from hybridserve.workers.engine import LLM

    llm = LLM("tiny", max_running_requests=4, chunked_prefill_size=16)
    engine = llm.engine
    try:
        prompts = [[5] * 40, [7] * 9, [9] * 23]  # 40 tokens: prefilled over three steps
        with decoding(engine, prompts, warm_steps=2):
            running = engine.scheduler.running
            assert len(running) == 3 and not engine.scheduler.waiting
            assert not any(r.in_prefill for r in running)
            # a token each warm step (the overlapped schedule hands over the first one late)
            assert min(len(r.output_ids) for r in running) >= 2
        assert not engine.requests and not engine.scheduler.running
    finally:
        llm.shutdown()
