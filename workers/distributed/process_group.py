"""Create a standalone process group (gloo on CPU, NCCL on CUDA) without torch's global default.

The group is a plain `ProcessGroup` object built on its own store, so several groups (or several
worker groups of one Ray cluster) can live in one process; collectives go through the object.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlparse

import torch.distributed as dist

from hybridserve.errors import ConfigError

BACKENDS = ("gloo", "nccl")


def init_process_group(
    backend: str,
    init_method: str,
    rank: int,
    world_size: int,
    timeout_s: float = 60.0,
    name: str = "tp",
) -> dist.ProcessGroup:
    """`init_method` is `tcp://host:port` (rank 0 hosts the store) or `file:///path`."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank}")
    timeout = datetime.timedelta(seconds=timeout_s)
    url = urlparse(init_method)
    if url.scheme == "tcp":
        if url.hostname is None or url.port is None:
            raise ConfigError(f"init_method: expected tcp://host:port, got {init_method!r}")
        store: dist.Store = dist.TCPStore(url.hostname, url.port, world_size, rank == 0, timeout)
    elif url.scheme == "file":
        store = dist.FileStore(url.path, world_size)
    else:
        raise ConfigError(f"init_method: expected tcp:// or file://, got {init_method!r}")
    store = dist.PrefixStore(name, store)
    if backend == "gloo":
        return dist.ProcessGroupGloo(store, rank, world_size, timeout)
    return dist.ProcessGroupNCCL(store, rank, world_size)
