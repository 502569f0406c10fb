"""Generates the protobuf and gRPC stubs next to the .proto files (build hook, import fallback)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[2]  # protos/: imports read "hybridserve/v1/x.proto"
PACKAGE_DIR = Path(__file__).resolve().parent


def stubs_missing(package_dir: Path = PACKAGE_DIR) -> bool:
    """True when a .proto has no stub, or a stub is older than its .proto."""
    for proto in package_dir.glob("*.proto"):
        for stub in (f"{proto.stem}_pb2.py", f"{proto.stem}_pb2_grpc.py"):
            path = package_dir / stub
            if not path.exists() or path.stat().st_mtime < proto.stat().st_mtime:
                return True
    return False


def generate(proto_root: Path = PROTO_ROOT) -> None:
    """Run grpc_tools.protoc over every .proto under proto_root, writing stubs next to them.

    protoc writes into a temporary folder first and each stub is then moved into place, so
    processes importing at the same time never read a half-written stub.
    """
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
    with tempfile.TemporaryDirectory(dir=proto_root) as out:
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {protos}")
        for stub in Path(out).rglob("*.py"):
            os.replace(stub, proto_root / stub.relative_to(out))
