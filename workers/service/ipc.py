"""The messages between a worker group's engine process (rank 0) and its gRPC front-end process,
pickled over two ZMQ PUSH/PULL sockets on `<endpoint>-in` (front-end to engine) and
`<endpoint>-out` (engine to front-end). Both processes belong to one deployment, so pickle is
safe here; the sockets are local (ipc://) and never exposed.

Front-end to engine:
  (COMMAND, token, name, args)  an EngineLoop command: add_request(prompt_ids, params, rid), abort
  (READ, token, name)           an EngineReads method, run on the engine thread
Engine to front-end:
  (REPLY, token, error, value)  a command's or read's outcome (error: the raised exception)
  (DELTAS, rows, healthy)       one engine step's deltas of the front-end's requests, as tuples
"""

from __future__ import annotations

import os
import tempfile
import uuid

from hybridserve.workers.engine import TokenDelta

COMMAND, READ, REPLY, DELTAS = "command", "read", "reply", "deltas"
DeltaRow = tuple  # TokenDelta's fields in order: plain tuples pickle several times faster


def new_endpoint() -> str:
    """A fresh ipc:// endpoint base under the temp directory (short: ipc paths max ~107 bytes)."""
    return f"ipc://{os.path.join(tempfile.gettempdir(), 'hs-' + uuid.uuid4().hex[:12])}"


def to_rows(deltas: list[TokenDelta]) -> list[DeltaRow]:
    return [tuple(vars(delta).values()) for delta in deltas]


def from_row(row: DeltaRow) -> TokenDelta:
    return TokenDelta(*row)
