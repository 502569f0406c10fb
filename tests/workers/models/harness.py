"""Drives the model forward directly, with trivially allocated cache slots (no engine)."""

from __future__ import annotations

import torch

from hybridserve.workers.models import (
    ForwardBatch,
    HybridCacheBuffers,
    NemotronHForCausalLM,
    StateSnapshot,
)


class Harness:
    """Sequence `sid` keeps its KV slots in a list and its Mamba state in slot `sid + 1`."""

    def __init__(self, model: NemotronHForCausalLM, kv_rows: int = 8192, state_rows: int = 64):
        self.model = model
        shapes = model.cache_shapes()
        self.buffers = HybridCacheBuffers(
            shapes, kv_rows, state_rows, torch.float32, torch.float32, "cpu"
        )
        self.next_slot = 1
        self.slots: dict[int, list[int]] = {}

    def fork(self, src: int, dst: int, prefix_len: int, snapshot_slot: int) -> None:
        """Start `dst` from `src`'s first `prefix_len` tokens, with the state saved at
        `snapshot_slot` (copy-on-write into dst's own slot)."""
        self.slots[dst] = self.slots[src][:prefix_len]
        self.buffers.copy_state(snapshot_slot, dst + 1)

    def step(
        self, chunks: dict[int, list[int]], snapshots: tuple[StateSnapshot, ...] = ()
    ) -> dict[int, torch.Tensor]:
        """Run one forward over `chunks` (sid -> new tokens); logits of every new token."""
        ids, cu, prefix, new_slots, kv, indptr, state = [], [0], [], [], [], [0], []
        for sid, toks in chunks.items():
            ctx = self.slots.setdefault(sid, [])
            prefix.append(len(ctx))
            fresh = list(range(self.next_slot, self.next_slot + len(toks)))
            self.next_slot += len(toks)
            ctx.extend(fresh)
            ids += toks
            new_slots += fresh
            kv += ctx
            cu.append(len(ids))
            indptr.append(len(kv))
            state.append(sid + 1)
        batch = ForwardBatch(
            input_ids=torch.tensor(ids),
            cu_q=cu,
            prefix_lens=prefix,
            out_cache_loc=torch.tensor(new_slots),
            kv_indices=torch.tensor(kv),
            kv_indptr=indptr,
            state_slots=torch.tensor(state),
            snapshots=list(snapshots),
        )
        logits = self.model(batch, self.buffers)
        return {sid: logits[cu[i] : cu[i + 1]] for i, sid in enumerate(chunks)}


def max_rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()
