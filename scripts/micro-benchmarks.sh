#!/usr/bin/env bash
# Micro-benchmarks of the hot paths around a KV transfer (plan building, descriptor coding, the coordinator's
# accounting of a finished request), with ordo-one/benchmark: wall clock, allocations and throughput per
# benchmark in a table. Arguments go to `swift package benchmark` (e.g. --filter 'plan.*', --format markdown).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift package benchmark --target HandoffBenchmarks "$@"
