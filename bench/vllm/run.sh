#!/usr/bin/env bash
# vLLM P/D with NixlConnector against HandoffConnector behind `handoff router`, in one run (bench/vllm/pd_vs_nixl.py).
# Builds the release `handoff` and installs, into the cached vLLM venv (scripts/vllm-env.sh), the release build of
# the handoff package, nixl 1.5.1 and matplotlib. Arguments go to pd_vs_nixl.py (--requests N, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="$(scripts/vllm-env.sh | tail -1)"
swift build -c release --product handoff
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
"$venv/bin/python" -c "import nixl" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check "nixl==1.5.1"
"$venv/bin/python" -c "import matplotlib" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check matplotlib
HANDOFF_BIN="$PWD/.build/release/handoff" "$venv/bin/python" bench/vllm/pd_vs_nixl.py "$@"
