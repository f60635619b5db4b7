#!/usr/bin/env bash
# The main job: `handoff demo`. A coordinator and 2 prefill + 2 decode workers run as separate processes on
# loopback; requests are admitted, prefilled, pulled through the UCX data plane (every block verified) and
# accounted; it prints where time to first token went. Extra arguments go to `handoff demo` (e.g. --json,
# --requests 100, --model llama-3.1-70b). Then the data-plane benchmark against memcpy, as before.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product handoff
.build/release/handoff demo "$@"
if [ "$#" -eq 0 ]; then
    for pattern in scattered contiguous; do
        .build/release/handoff bench --local --layers 32 --blocks 256 --block-kib 32 --op read --pattern "$pattern"
    done
fi
