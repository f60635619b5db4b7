#!/usr/bin/env bash
# The whole test suite: installs what the build needs, then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build --disable-xctest "$@"
