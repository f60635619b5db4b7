#!/usr/bin/env bash
# Builds the protoc plugins from this package's own dependencies (swift-protobuf's protoc-gen-swift,
# grpc-swift-protobuf's protoc-gen-grpc-swift-2) in .build-protoc, so that generated code matches the runtime
# versions the package resolves, and prints the folder that holds them. Installs protoc when missing.
# Used by scripts/generate-proto.sh and scripts/generate-etcd-proto.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y protobuf-compiler; else sudo apt-get install -y protobuf-compiler; fi
fi >&2
scratch=.build-protoc
swift build -c release --scratch-path "$scratch" --product protoc-gen-swift >&2
swift build -c release --scratch-path "$scratch" --product protoc-gen-grpc-swift-2 >&2
swift build -c release --scratch-path "$scratch" --show-bin-path
