"""Which slice of a dimension a rank holds: even splits, and head splits with replication."""

from __future__ import annotations

from hybridserve.errors import ConfigError


def split_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """[start, end) of rank's part of `n` items; the first `n % world` ranks get one more."""
    per, extra = divmod(n, world)
    start = rank * per + min(rank, extra)
    return start, start + per + (rank < extra)


def head_range(n: int, rank: int, world: int, what: str, replicate: bool) -> tuple[int, int]:
    """[start, end) of rank's heads (or groups). With `replicate`, a world larger than `n` gives
    each rank one head, shared by `world // n` consecutive ranks (KV heads, Mamba B/C groups)."""
    if n % world == 0:
        per = n // world
        return rank * per, (rank + 1) * per
    if replicate and world % n == 0:
        head = rank // (world // n)
        return head, head + 1
    hint = " or a multiple of it" if replicate else ""
    raise ConfigError(f"{what}: {n} cannot be split over tp={world} (tp must divide it{hint})")
