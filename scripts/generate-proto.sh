#!/usr/bin/env bash
# Regenerates Sources/HandoffProto from Protos/handoff/v1/handoff.proto.
#
# Needs protoc (apt protobuf-compiler). Builds the two protoc plugins from this package's own dependencies
# (swift-protobuf's protoc-gen-swift, grpc-swift-protobuf's protoc-gen-grpc-swift-2) in .build-protoc, so the
# generated code always matches the runtime versions the package resolves. Run it after editing the .proto and
# commit the result; builds and CI use the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y protobuf-compiler; else sudo apt-get install -y protobuf-compiler; fi
fi

scratch=.build-protoc
swift build -c release --scratch-path "$scratch" --product protoc-gen-swift
swift build -c release --scratch-path "$scratch" --product protoc-gen-grpc-swift-2
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"

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
