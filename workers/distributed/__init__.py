"""Tensor/expert parallelism: a per-group context and its collectives, range partitioning,
and `Shard` (the part of a checkpoint tensor a rank holds)."""

from hybridserve.workers.distributed.context import ParallelContext
from hybridserve.workers.distributed.partition import head_range, split_range
from hybridserve.workers.distributed.process_group import init_process_group
from hybridserve.workers.distributed.shard import Shard

__all__ = ["ParallelContext", "Shard", "head_range", "init_process_group", "split_range"]
