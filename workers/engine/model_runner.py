"""Turns a scheduled batch into the model's varlen inputs and runs the forward.

Pure decode steps that fit a captured size replay a CUDA graph (decode_graphs.py); the rest run
eagerly."""

from __future__ import annotations

import numpy as np
import torch

from hybridserve.kernels.host_copy import device_tensor, put_rows, select_rows
from hybridserve.workers.engine.decode_graphs import DecodeGraphs
from hybridserve.workers.engine.scheduler import ScheduledBatch
from hybridserve.workers.models import (
    ForwardBatch,
    HybridCacheBuffers,
    NemotronHForCausalLM,
    StateSnapshot,
)


class ModelRunner:
    def __init__(
        self,
        model: NemotronHForCausalLM,
        buffers: HybridCacheBuffers,
        device: torch.device,
        graphs: DecodeGraphs | None = None,
    ) -> None:
        self.model = model
        self.buffers = buffers
        self.device = device
        self.graphs = graphs

    def forward(self, batch: ScheduledBatch, previous: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [n, vocab] (fp32) of the chunks that end their request's input, in order.

        `previous`: the last step's sampled tokens on the device, where a request's newest token
        (`pending`) still is: it is fed from there, without waiting for it (overlap)."""
        ids: list[int] = []
        fed_at: list[int] = []  # rows of `ids` fed from `previous[fed_from]`
        fed_from: list[int] = []
        out_loc: list[int] = []
        kv: list[np.ndarray] = []
        cu, indptr, prefix, states, logit_rows = [0], [0], [], [], []
        snapshots = []
        for i, c in enumerate(batch.chunks):
            pending = c.req.pending
            ids += c.req.token_ids(c.start, c.end - pending)
            if pending:  # a decode row: its one token is the previous step's
                fed_at.append(len(ids))
                fed_from.append(c.req.pending_row)
                ids.append(0)
            out_loc += c.slots
            kv.append(c.req.kv_indices(c.end))
            cu.append(len(ids))
            indptr.append(indptr[-1] + c.end)
            prefix.append(c.start)
            states.append(c.req.state_slot)
            snapshots += [StateSnapshot(i, pos - c.start, slot) for pos, slot in c.snapshots]
            if c.wants_logits:
                logit_rows.append(len(ids) - 1)
        # joined once, into pinned memory on a GPU: the copy to the device is then asynchronous
        kv_indices = torch.empty(
            indptr[-1], dtype=torch.long, pin_memory=self.device.type == "cuda"
        )
        np.concatenate(kv, out=kv_indices.numpy())

        decode = batch.is_decode

        def t(values: list[int]) -> torch.Tensor:
            return device_tensor(values, torch.long, self.device)

        def feed(input_ids: torch.Tensor) -> None:
            if not fed_at:
                return
            assert previous is not None, "a pending token without the step that sampled it"
            put_rows(input_ids, fed_at, select_rows(previous, fed_from))

        if decode and self.graphs is not None and self.graphs.fits(len(ids), indptr[-1]):
            return self.graphs.run(ids, out_loc, kv_indices, indptr, states, feed)

        input_ids = t(ids)
        feed(input_ids)
        fb = ForwardBatch(
            input_ids=input_ids,
            cu_q=cu,
            prefix_lens=prefix,
            out_cache_loc=t(out_loc),
            kv_indices=kv_indices.to(self.device, non_blocking=True),
            kv_indptr=indptr,
            state_slots=t(states),
            snapshots=snapshots,
            logits_indices=None if decode else t(logit_rows),
        )
        return self.model(fb, self.buffers)
