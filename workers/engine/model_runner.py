"""Turns a scheduled batch into the model's varlen inputs, runs the forward, samples.

Pure decode steps that fit a captured size replay a CUDA graph (decode_graphs.py); the rest run
eagerly."""

from __future__ import annotations

import numpy as np
import torch

from hybridserve.kernels.host_copy import device_tensor
from hybridserve.workers.engine.decode_graphs import DecodeGraphs
from hybridserve.workers.engine.sampler import SampleOutput, Sampler
from hybridserve.workers.engine.sampling_params import SamplingParams
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
        sampler: Sampler,
        device: torch.device,
        graphs: DecodeGraphs | None = None,
    ) -> None:
        self.model = model
        self.buffers = buffers
        self.sampler = sampler
        self.device = device
        self.graphs = graphs

    def forward(self, batch: ScheduledBatch) -> torch.Tensor:
        """Logits [n, vocab] (fp32) of the chunks that end their request's input, in order."""
        ids: list[int] = []
        out_loc: list[int] = []
        kv: list[np.ndarray] = []
        cu, indptr, prefix, states, logit_rows = [0], [0], [], [], []
        snapshots = []
        for i, c in enumerate(batch.chunks):
            ids += c.req.token_ids(c.start, c.end)
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

        decode = all(c.is_decode for c in batch.chunks)
        if decode and self.graphs is not None and self.graphs.fits(len(ids), indptr[-1]):
            return self.graphs.run(ids, out_loc, kv_indices, indptr, states)

        def t(values: list[int]) -> torch.Tensor:
            return device_tensor(values, torch.long, self.device)

        fb = ForwardBatch(
            input_ids=t(ids),
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

    def sample(
        self,
        logits: torch.Tensor,
        params: list[SamplingParams],
        prompts: list[list[int]],
        outputs: list[list[int]],
    ) -> SampleOutput:
        return self.sampler.sample(logits, params, prompts, outputs)
