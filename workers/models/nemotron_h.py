"""NemotronH causal LM for serving: a flat varlen batch in, logits of the wanted rows out."""

from __future__ import annotations

import torch
from torch import nn

from hybridserve import kernels
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.layers import (
    Attention,
    Mamba2Mixer,
    MoE,
    ParallelLMHead,
    ReLU2MLP,
    RMSNorm,
    VocabParallelEmbedding,
    vocab_logits,
)
from hybridserve.workers.models.cache_buffers import CacheShapes, HybridCacheBuffers
from hybridserve.workers.models.config import ATTENTION, MAMBA, MLP, MOE, ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch
from hybridserve.workers.models.parallel_layout import check_parallel


class DenseMLP(ReLU2MLP):
    def __init__(self, config: ModelConfig, layer_id: int, parallel: ParallelContext) -> None:
        super().__init__(config.hidden_size, config.intermediate_size, config.mlp_bias, parallel)


MIXERS: dict[str, type[nn.Module]] = {
    MAMBA: Mamba2Mixer,
    ATTENTION: Attention,
    MOE: MoE,
    MLP: DenseMLP,
}


class Block(nn.Module):
    """One pre-norm block, `h + mixer(norm(h))`: its norm and mixer under the checkpoint's names.
    The model runs the residual stream itself (fp32 when the config asks for it), each block's
    add fused with the next block's norm."""

    def __init__(self, config: ModelConfig, layer_id: int, parallel: ParallelContext) -> None:
        super().__init__()
        self.norm = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.mixer = MIXERS[config.layer_types[layer_id]](config, layer_id, parallel)


class NemotronHForCausalLM(nn.Module):
    """Parameter names equal the checkpoint's without its `backbone.` prefix. Under tensor
    parallelism every rank builds its shard (see `parallel`) and returns the same full logits."""

    def __init__(self, config: ModelConfig, parallel: ParallelContext | None = None) -> None:
        super().__init__()
        parallel = parallel or ParallelContext()
        check_parallel(config, parallel)
        self.config, self.parallel = config, parallel
        vocab, hidden = config.vocab_size, config.hidden_size
        self.embeddings = VocabParallelEmbedding(vocab, hidden, parallel)
        self.layers = nn.ModuleList(Block(config, i, parallel) for i in range(config.num_layers))
        self.norm_f = RMSNorm(hidden, config.layer_norm_epsilon)
        self.lm_head = (
            None if config.tie_word_embeddings else ParallelLMHead(vocab, hidden, parallel)
        )

    def cache_shapes(self) -> CacheShapes:
        """This rank's cache geometry (local KV heads, conv channels and Mamba heads)."""
        kv_heads = conv_dim = mamba_heads = None
        for layer in self.layers:
            mixer = layer.mixer
            if isinstance(mixer, Attention):
                kv_heads = mixer.num_kv_heads
            elif isinstance(mixer, Mamba2Mixer):
                mamba_heads = mixer.num_heads
                conv_dim = mixer.conv1d.weight.shape[0]
        return CacheShapes.from_config(self.config, kv_heads, conv_dim, mamba_heads)

    @torch.inference_mode()
    def forward(self, batch: ForwardBatch, caches: HybridCacheBuffers) -> torch.Tensor:
        """Returns fp32 logits [n, vocab] for `batch.logits_indices` (all tokens when None)."""
        h = self.embeddings(batch.input_ids)
        residual = h.float() if self.config.residual_in_fp32 else h
        x = self.layers[0].norm(h.to(self.layers[0].norm.weight.dtype))
        norms = [layer.norm for layer in self.layers[1:]] + [self.norm_f]
        for layer, norm in zip(self.layers, norms):
            out = layer.mixer(x, batch, caches)
            if norm is self.norm_f and batch.logits_indices is not None:  # the rows wanted
                residual, out = residual[batch.logits_indices], out[batch.logits_indices]
            # this block's residual add and the next block's norm (the last: norm_f), one kernel
            residual, x = kernels.add_rms_norm(residual, out, norm.weight, norm.eps)
        head = self.embeddings.weight if self.lm_head is None else self.lm_head.weight
        return vocab_logits(x, head, self.config.vocab_size, self.parallel)
