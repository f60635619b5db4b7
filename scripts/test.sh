#!/usr/bin/env bash
# The whole test suite: installs what the build needs, then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build --disable-xctest "$@"
# A short libFuzzer run over the TCP frame decoder (its own build; longer runs: scripts/fuzz-tcp-wire.sh 600).
scripts/fuzz-tcp-wire.sh "${FUZZ_SECONDS:-15}" 2>&1 | tail -3
