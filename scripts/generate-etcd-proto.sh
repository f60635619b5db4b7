#!/usr/bin/env bash
# Regenerates Sources/EtcdProto (gRPC clients of etcd's KV, Lease and Election services) from Protos/etcd.
#
# Protos/etcd holds etcd v3.4.23's API files trimmed by scripts/etcd-proto/trim.py. With ETCD_SOURCE set to a
# checkout of github.com/etcd-io/etcd at tag v3.4.23, the trim runs again first. The protoc plugins come from
# scripts/protoc-plugins.sh. Commit the result; builds and CI use the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${ETCD_SOURCE:-}" ]; then
    python3 scripts/etcd-proto/trim.py "$ETCD_SOURCE" Protos
fi

bin="$(scripts/protoc-plugins.sh)"

out=Sources/EtcdProto
mkdir -p "$out"
rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
protoc \
    --proto_path=Protos \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=false \
    etcd/mvccpb/kv.proto etcd/etcdserverpb/rpc.proto etcd/v3electionpb/v3election.proto
echo "generated: $(ls "$out"/*.swift | tr '\n' ' ')"
