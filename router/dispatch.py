"""Sends one request to a worker group chosen by the policy; retries once before the first token.

Load is counted from the moment of dispatch: the group's in-flight requests, pending prefill
tokens (the uncached part of prompts that have no token yet) and active tokens. Closing the
stream early (client gone, stop string) cancels the upstream call, so the group aborts the
request and frees its slots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import grpc

from hybridserve.errors import WorkerUnavailableError
from hybridserve.metrics import RouterMetrics
from hybridserve.router.groups import GroupLoad, GroupRegistry, WorkerGroup
from hybridserve.router.policies import BasePolicy, Candidate
from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import worker_pb2
from hybridserve.v1.status import RETRYABLE

MAX_ATTEMPTS = 2  # the first group, then one other if the first fails before any token


def pick_group(
    policy: BasePolicy,
    index: PrefixIndex,
    prompt: list[int],
    loads: Mapping[str, GroupLoad],
    now: float,
) -> Candidate:
    """Ask `policy` for one of the groups in `loads`, then note the prompt as sent there.
    Shared with the routing simulator (bench/routing_sim.py), which passes virtual time."""
    hashes = index.hashes(prompt)
    predicted = index.usable_prefix(prompt, hashes)
    affinity = index.affinity(hashes, now) if policy.needs_prefix_match else {}
    candidates = [
        Candidate(
            gid,
            load.in_flight,
            load.pending_prefill_tokens,
            load.active_tokens,
            predicted.get(gid, 0),
            max(affinity.get(gid, 0), predicted.get(gid, 0)),
        )
        for gid, load in loads.items()
    ]
    choice = policy.select(len(prompt), candidates)
    if policy.needs_prefix_match:  # only policies that read affinity need the note
        index.note_dispatch(choice.group_id, hashes, now)
    return choice


@dataclass(frozen=True)
class Route:
    group: WorkerGroup
    predicted_cached_tokens: int  # the prefix index's usable prefix on that group


class Dispatcher:
    """Records each decision, retry, upstream error and reported cache hit in `metrics`."""

    def __init__(
        self, registry: GroupRegistry, policy: BasePolicy, metrics: RouterMetrics | None = None
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.metrics = metrics

    def route(self, model: str, prompt: list[int], exclude: set[str]) -> Route:
        groups = self.registry.candidates(model, exclude)
        if not groups:
            raise WorkerUnavailableError(f"no healthy worker group serves model {model!r}")
        loads = {g.id: g.load for g in groups}
        started = time.perf_counter()
        choice = pick_group(
            self.policy, self.registry.indexes[model], prompt, loads, time.monotonic()
        )
        if self.metrics is not None:
            seconds = time.perf_counter() - started
            self.metrics.observe_decision(
                self.policy.name, choice.group_id, seconds, choice.cached_tokens
            )
        return Route(self.registry.groups[choice.group_id], choice.cached_tokens)

    async def generate(
        self, model: str, request: worker_pb2.WorkerGenerateRequest, timeout: float | None
    ) -> AsyncIterator[tuple[Route, worker_pb2.WorkerGenerateResponse]]:
        """Yields (route, worker response); raises the worker's AioRpcError or a typed error."""
        prompt = list(request.prompt_token_ids)
        tried: set[str] = set()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            route = self.route(model, prompt, tried)
            tried.add(route.group.id)
            load = route.group.load
            uncached = len(prompt) - route.predicted_cached_tokens
            load.in_flight += 1
            load.pending_prefill_tokens += uncached
            load.active_tokens += len(prompt)
            started, generated = False, 0
            call = route.group.stream_stub.Generate(request, timeout=timeout)
            try:
                async for response in call:
                    if not started:
                        started = True
                        load.pending_prefill_tokens -= uncached
                        if self.metrics is not None:
                            self.metrics.observe_reported_hit(
                                route.group.id, response.cached_tokens
                            )
                    tokens = sum(len(d.token_ids) for d in response.deltas)
                    generated += tokens
                    load.active_tokens += tokens
                    yield route, response
                return
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the client went away: our own handler is being cancelled
                # The upstream call was cancelled under us (its channel closed): without this
                # the client would wait forever for a status.
                raise WorkerUnavailableError(
                    f"group {route.group.id}: its stream was cut off"
                ) from None
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    self.registry.mark_failed(route.group)
                if self.metrics is not None:
                    self.metrics.observe_upstream_error(route.group.id, exc.code().name)
                retry = attempt < MAX_ATTEMPTS and exc.code() in RETRYABLE
                if started or not retry or not self.registry.candidates(model, tried):
                    raise  # with no other group to try, the group's own status stands
                if self.metrics is not None:
                    self.metrics.observe_retry(route.group.id)
            finally:
                call.cancel()  # a no-op once finished; otherwise the group aborts the request
                load.in_flight -= 1
                load.active_tokens -= len(prompt) + generated
                if not started:
                    load.pending_prefill_tokens -= uncached
