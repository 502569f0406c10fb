"""The KV-event wire format (pyzmq PUB, one msgpack frame per message) shared by worker and router.

A message is `[seq, epoch, events, load]`: `seq` grows by one per message of a publisher (a gap
means lost messages), `epoch` changes when the publisher restarts, `load` is a `LoadReport` or
None. Events, oldest first, are lists tagged by their first item:

  ["block_stored", [hash, ...], parent_hash | None, block_size]  full blocks along one path
  ["block_removed", [hash, ...]]
  ["all_cleared"]                                                 forget this group's entries
  ["state_stored", block_hash | None, prefix_len, tail_hash | None]
  ["state_removed", block_hash | None, prefix_len, tail_hash | None]

Block hashes are hybridserve.block_hash chains over blocks of `block_size` tokens. A Mamba state
valid after the first `prefix_len` tokens is named by the hash of the last full block ending at
or before prefix_len and, when prefix_len is not block aligned, by `tail_hash` =
hash_block(tokens[prefix_len // block_size * block_size : prefix_len], block_hash).
"""

from __future__ import annotations

from typing import NamedTuple

import msgpack

TOPIC = b"kv"


class BlockStored(NamedTuple):
    block_hashes: tuple[int, ...]
    parent_hash: int | None
    block_size: int


class BlockRemoved(NamedTuple):
    block_hashes: tuple[int, ...]


class AllCleared(NamedTuple):
    pass


class StateStored(NamedTuple):
    block_hash: int | None
    prefix_len: int
    tail_hash: int | None


class StateRemoved(NamedTuple):
    block_hash: int | None
    prefix_len: int
    tail_hash: int | None


WireEvent = BlockStored | BlockRemoved | AllCleared | StateStored | StateRemoved


class LoadReport(NamedTuple):
    running: int
    waiting: int
    queued_prompt_tokens: int
    free_kv_pages: int
    total_kv_pages: int
    free_state_slots: int
    total_state_slots: int
    cached_pages: int
    cached_snapshots: int


class Message(NamedTuple):
    seq: int
    epoch: str
    events: list[WireEvent]
    load: LoadReport | None


_TAGS: dict[type, str] = {
    BlockStored: "block_stored",
    BlockRemoved: "block_removed",
    AllCleared: "all_cleared",
    StateStored: "state_stored",
    StateRemoved: "state_removed",
}
_TYPES = {tag: cls for cls, tag in _TAGS.items()}


def encode_events(events: list[WireEvent]) -> list[list]:
    return [[_TAGS[type(e)], *e] for e in events]


def decode_events(raw: list[list]) -> list[WireEvent]:
    out: list[WireEvent] = []
    for item in raw:
        cls = _TYPES.get(item[0])
        if cls is None:
            raise ValueError(f"unknown KV event {item[0]!r}")
        fields = [tuple(f) if isinstance(f, list) else f for f in item[1:]]
        out.append(cls(*fields))
    return out


def pack_events(events: list[WireEvent]) -> bytes:
    return msgpack.packb(encode_events(events))


def unpack_events(data: bytes) -> list[WireEvent]:
    return decode_events(msgpack.unpackb(data))


def pack_message(message: Message) -> bytes:
    load = list(message.load) if message.load is not None else None
    return msgpack.packb([message.seq, message.epoch, encode_events(message.events), load])


def unpack_message(data: bytes) -> Message:
    seq, epoch, events, load = msgpack.unpackb(data)
    return Message(seq, epoch, decode_events(events), LoadReport(*load) if load else None)
