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
