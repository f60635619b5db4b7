#!/usr/bin/env bash
# Regenerates Sources/HandoffProto from Protos/handoff/v1/handoff.proto.
#
# The protoc plugins come from scripts/protoc-plugins.sh (built from this package's own dependencies, so the
# generated code always matches the runtime versions the package resolves). Run it after editing the .proto and
# commit the result; builds and CI use the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(scripts/protoc-plugins.sh)"

out=Sources/HandoffProto
rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
protoc \
    --proto_path=Protos \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=true \
    handoff/v1/handoff.proto
echo "generated: $(ls "$out"/*.swift | tr '\n' ' ')"
