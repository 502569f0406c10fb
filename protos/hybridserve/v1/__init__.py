"""hybridserve wire contract v1: generated gRPC stubs (built from the .proto files) and kv_wire."""

from __future__ import annotations

from hybridserve.v1 import _codegen

# A clean clone run without `pip install -e .` (or after editing a .proto) has no or stale stubs:
# build them once here, before anything imports them.
if _codegen.stubs_missing():
    _codegen.generate()
