"""Compare greedy token streams up to the reference's first near-tie (float noise decides ties)."""

from __future__ import annotations

NEAR_TIE = 2e-3


def agreed_prefix(ref_tokens: list[int], ref_gaps: list[float], ours: list[int]) -> int:
    """How many tokens must agree: up to and including the first position whose reference
    top-1 minus top-2 logit gap is below NEAR_TIE (that token itself may differ)."""
    for i, gap in enumerate(ref_gaps):
        if gap < NEAR_TIE:
            return i
    return len(ref_tokens)


def assert_same_greedy(ref_tokens: list[int], ref_gaps: list[float], ours: list[int]) -> int:
    """Assert agreement up to the first near-tie; returns how many tokens were compared."""
    n = agreed_prefix(ref_tokens, ref_gaps, ours)
    assert ours[:n] == ref_tokens[:n], f"diverged before the first near-tie at {n}"
    return n


def gaps_from_top_logprobs(top: list[list[tuple[int, float]]]) -> list[float]:
    """top-1 minus top-2 from each position's top-2 log-probs (equal to the logit gap)."""
    return [t[0][1] - t[1][1] for t in top]
