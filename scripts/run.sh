#!/usr/bin/env bash
# The main job, for now: the data-plane benchmark. Two processes on this host move 512 MiB of KV
# (32 layers x 2 x 256 blocks of 32 KiB) over UCX, scattered and contiguous, checked byte for byte,
# against memcpy in the same run. Extra arguments go to every `handoff bench` call (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product handoff
for pattern in scattered contiguous; do
    .build/release/handoff bench --local --layers 32 --blocks 256 --block-kib 32 --op read --pattern "$pattern" "$@"
done
