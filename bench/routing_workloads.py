"""Request streams for the routing benchmarks: random, shared prefix, multi-turn, Mooncake trace.

Each request carries its arrival time, prompt token ids and the output token ids it will
"generate" (the simulator emits them; the real cluster generates its own and ignores them), so a
multi-turn follow-up prompt extends its previous turn's prompt + output exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from hybridserve.block_hash import block_hashes

VOCAB = 1000  # token ids are drawn from [1, VOCAB): valid for the tiny model's vocabulary
TRACE_BLOCK = 512  # tokens per Mooncake hash id


@dataclass(frozen=True)
class WorkloadRequest:
    arrival_s: float
    prompt: list[int]
    output: list[int]


def _tokens(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(1, VOCAB) for _ in range(n)]


def _arrivals(rng: random.Random, n: int, rate: float) -> list[float]:
    now, out = 0.0, []
    for _ in range(n):
        now += rng.expovariate(rate)
        out.append(now)
    return out


def random_prompts(
    num: int, prompt_len: int, output_len: int, rate: float, seed: int
) -> list[WorkloadRequest]:
    """Independent random prompts: nothing to reuse (hit ratio ~ 0 for every policy)."""
    rng = random.Random(seed)
    times = _arrivals(rng, num, rate)
    return [WorkloadRequest(t, _tokens(rng, prompt_len), _tokens(rng, output_len)) for t in times]


def shared_prefix(
    num_groups: int,
    prompts_per_group: int,
    system_len: int,
    question_len: int,
    output_len: int,
    rate: float,
    seed: int,
) -> list[WorkloadRequest]:
    """SGLang's generated-shared-prefix: G system prompts of S tokens, P questions of Q each,
    shuffled, Poisson arrivals at `rate` requests/s."""
    rng = random.Random(seed)
    systems = [_tokens(rng, system_len) for _ in range(num_groups)]
    prompts = [s + _tokens(rng, question_len) for s in systems for _ in range(prompts_per_group)]
    rng.shuffle(prompts)
    times = _arrivals(rng, len(prompts), rate)
    return [WorkloadRequest(t, p, _tokens(rng, output_len)) for t, p in zip(times, prompts)]


def multi_turn(
    num_convs: int,
    turns: int,
    first_len: int,
    turn_len: int,
    output_len: int,
    rate: float,
    turn_gap_s: float,
    seed: int,
) -> list[WorkloadRequest]:
    """bench_multiturn-style chats: conversations start at `rate`/s; turn k+1 arrives
    `turn_gap_s` after turn k and its prompt is turn k's prompt + output + a new message."""
    rng = random.Random(seed)
    out: list[WorkloadRequest] = []
    for start in _arrivals(rng, num_convs, rate):
        prompt = _tokens(rng, first_len)
        for k in range(turns):
            reply = _tokens(rng, output_len)
            out.append(WorkloadRequest(start + k * turn_gap_s, prompt, reply))
            prompt = prompt + reply + _tokens(rng, turn_len)
    return sorted(out, key=lambda r: r.arrival_s)


def mooncake_trace(
    path: Path, limit: int | None, time_scale: float, max_output: int
) -> list[WorkloadRequest]:
    """A Mooncake FAST'25 JSONL trace: each hash id -> 512 deterministic token ids (the last
    block partial), arrival = timestamp (ms) * time_scale / 1000, output capped at max_output."""
    out: list[WorkloadRequest] = []
    blocks: dict[int, list[int]] = {}
    with path.open() as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            row = json.loads(line)
            ids, prompt = row["hash_ids"], []
            for h in ids:
                if h not in blocks:
                    blocks[h] = _tokens(random.Random(h), TRACE_BLOCK)
                prompt += blocks[h]
            prompt = prompt[: row["input_length"]]
            n_out = max(1, min(row["output_length"], max_output))
            reply = _tokens(random.Random(len(out) + 10**9), n_out)
            out.append(WorkloadRequest(row["timestamp"] * time_scale / 1000, prompt, reply))
    return out


def oracle_hit_ratio(requests: list[WorkloadRequest], block: int = 16) -> float:
    """Infinite caches, perfect routing: each prompt reuses its longest `block`-aligned prefix
    shared with any earlier request's prompt + output (the last prompt token always runs)."""
    seen: set[int] = set()
    cached = total = 0
    for r in requests:
        hashes = block_hashes(r.prompt[: len(r.prompt) - 1], block)
        hit = 0
        while hit < len(hashes) and hashes[hit] in seen:
            hit += 1
        cached += hit * block
        total += len(r.prompt)
        seen.update(block_hashes(r.prompt + r.output, block))
    return cached / max(total, 1)
