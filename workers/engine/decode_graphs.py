"""Decode forwards replayed from CUDA graphs, one graph per padded batch size.

A decode step of this model launches ~1,500 small kernels (52 blocks, each a handful of ops); in
eager mode the host cannot issue them as fast as the GPU runs them, so batch 1 takes as long as
batch 64. A graph captured once per batch size replays them with one launch. Its inputs live in
static buffers whose addresses are fixed at capture: each step copies the batch in (padded to
the next captured size), replays, and reads the logits of the real rows.

Padding rows decode token 0 against the scratch rows the pools never hand out (KV slot 0, state
row 0), so they cannot touch a request's cache. Prefill and mixed steps stay eager. Without CUDA
(`capture=False`) the same padded static-buffer forward runs eagerly, which is how the CPU tests
check the padding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hybridserve.kernels.host_copy import copy_into
from hybridserve.workers.models import ForwardBatch, HybridCacheBuffers, NemotronHForCausalLM

SCRATCH = 0  # KV slot and state row reserved by the pools for padding writes
PADDING = np.array([[0], [SCRATCH], [SCRATCH]], dtype=np.int64)  # a padded row: token 0 to scratch


def graph_batch_sizes(max_batch: int) -> list[int]:
    """1, 2, 4, 8, then every 16 up to `max_batch` (which is always included)."""
    sizes = [s for s in (1, 2, 4, 8) if s < max_batch]
    sizes += list(range(16, max_batch, 16))
    return sorted({*sizes, max_batch})


class DecodeGraphs:
    def __init__(
        self,
        model: NemotronHForCausalLM,
        buffers: HybridCacheBuffers,
        device: torch.device,
        max_batch: int,
        max_kv_tokens: int,
        capture: bool = True,
    ) -> None:
        self.model, self.buffers, self.device = model, buffers, device
        self.sizes = graph_batch_sizes(max_batch)
        self.max_batch = max_batch
        long = dict(dtype=torch.long, device=device)
        # a step's token ids, KV slots and state rows, filled by one copy (`fill`)
        self.per_row = torch.zeros(3, max_batch, **long)
        self.input_ids, self.out_cache_loc, self.state_slots = self.per_row
        self.kv_indices = torch.zeros(max_kv_tokens + max_batch, **long)
        self.kv_indptr = torch.zeros(max_batch + 1, dtype=torch.int32, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        # One logits buffer for every graph, outside their pool: an output kept per graph would
        # pin its memory in the shared pool (GBs over ~70 sizes at a 131k vocabulary).
        vocab = model.config.vocab_size
        self.logits = torch.empty(max_batch if capture else 0, vocab, device=device)
        if capture:
            self._capture()

    def padded_size(self, batch: int) -> int | None:
        """The captured size that serves `batch` sequences; None when it is too large."""
        return next((s for s in self.sizes if s >= batch), None)

    def fits(self, batch: int, kv_tokens: int) -> bool:
        """Whether a decode step of `batch` sequences with `kv_tokens` of context in all can
        replay a graph (contexts sharing cached prefixes can add up to more than the KV pool)."""
        size = self.padded_size(batch)
        return size is not None and kv_tokens + size - batch <= len(self.kv_indices)

    def run(
        self,
        ids: list[int],
        out_loc: list[int],
        kv: torch.Tensor,
        indptr: list[int],
        slots: list[int],
        feed: Callable[[torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Logits [len(ids), vocab] of one decode step (`indptr` offsets into `kv`); `feed`
        may then write token ids that are on the device into the input buffer."""
        size, padded_indptr = self.fill(ids, out_loc, kv, indptr, slots)
        if feed is not None:
            feed(self.input_ids)
        if size in self.graphs:
            self.graphs[size].replay()
            return self.logits[: len(ids)]
        return self.model(self._batch(size, padded_indptr), self.buffers)[: len(ids)]

    def fill(
        self,
        ids: list[int],
        out_loc: list[int],
        kv: torch.Tensor,
        indptr: list[int],
        slots: list[int],
        size: int | None = None,
    ) -> tuple[int, list[int]]:
        """Copy a step into the static buffers, padded to `size` (default: the smallest captured
        size that fits); returns the size and the padded indptr."""
        size = size or self.padded_size(len(ids))
        assert size is not None, f"decode batch {len(ids)} exceeds the captured {self.max_batch}"
        pad = size - len(ids)
        indptr = indptr + list(range(indptr[-1] + 1, indptr[-1] + pad + 1))
        rows = np.repeat(PADDING, self.max_batch, axis=1)
        rows[:, : len(ids)] = ids, out_loc, slots
        # up to the last state row needed: one copy where there were three
        copy_into(self.per_row.view(-1), rows.reshape(-1)[: 2 * self.max_batch + size])
        self.kv_indices[: len(kv)].copy_(kv, non_blocking=True)
        self.kv_indices[len(kv) : len(kv) + pad].fill_(SCRATCH)  # one context slot a padded row
        copy_into(self.kv_indptr, indptr)
        return size, indptr

    def _batch(self, size: int, indptr: list[int]) -> ForwardBatch:
        return ForwardBatch(
            input_ids=self.input_ids[:size],
            cu_q=list(range(size + 1)),
            prefix_lens=[1] * size,
            out_cache_loc=self.out_cache_loc[:size],
            kv_indices=self.kv_indices,
            kv_indptr=indptr,
            state_slots=self.state_slots[:size],
            snapshots=[],
            kv_indptr_device=self.kv_indptr[: size + 1],
        )

    def _capture(self) -> None:
        """Largest size first, all graphs sharing one memory pool (SGLang and vLLM do the same)."""
        pool = None
        for size in reversed(self.sizes):
            empty: list[int] = []
            no_kv = torch.empty(0, dtype=torch.long)
            _, indptr = self.fill(empty, empty, no_kv, [0], empty, size)  # all padding
            batch = self._batch(size, indptr)
            stream = torch.cuda.Stream(self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(2):  # compile the Triton kernels, settle the allocator
                    self.model(batch, self.buffers)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                self.logits[:size].copy_(self.model(batch, self.buffers))
            pool = graph.pool()
            self.graphs[size] = graph
        torch.cuda.synchronize(self.device)
