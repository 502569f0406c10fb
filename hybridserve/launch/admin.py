"""`hybridserve groups`: list, add and remove a running router's worker groups over gRPC."""

from __future__ import annotations

import argparse
import sys

import grpc

from hybridserve.v1 import router_pb2, router_pb2_grpc

TIMEOUT_S = 30.0


def run_admin(args: argparse.Namespace) -> int:
    """Prints one line per group (list) or the group changed; a gRPC error goes to stderr."""
    with grpc.insecure_channel(args.router) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        try:
            if args.action == "list":
                status = stub.ClusterStatus(router_pb2.ClusterStatusRequest(), timeout=TIMEOUT_S)
                for g in status.groups:
                    health = "healthy" if g.healthy else "unhealthy"
                    print(f"{g.id}\t{g.address}\t{g.model}\t{health}\tin_flight={g.in_flight}")
            elif args.action == "add":
                request = router_pb2.AddWorkerGroupRequest(address=args.address, group_id=args.id)
                added = stub.AddWorkerGroup(request, timeout=TIMEOUT_S)
                print(f"added {added.group_id} ({added.model}) at {args.address}")
            else:
                request = router_pb2.RemoveWorkerGroupRequest(group_id=args.group_id)
                stub.RemoveWorkerGroup(request, timeout=TIMEOUT_S)
                print(f"removed {args.group_id}")
        except grpc.RpcError as exc:
            print(f"hybridserve groups: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    return 0
