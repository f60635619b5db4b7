#!/usr/bin/env bash
# The Python package's tests (python/tests): installs the package with the README's pip command into a venv kept
# outside the clone (cached between runs: $HANDOFF_PYTHON_VENV, default ~/.cache/handoff/python-venv), then runs
# pytest against the installed package. Needs the `swift build` that scripts/test.sh runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HANDOFF_PYTHON_VENV:-$HOME/.cache/handoff/python-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "pytest>=7" "numpy>=1.22"
# The tests take the debug library the Swift tests were built with; a user's install builds release.
HANDOFF_SWIFT_CONFIGURATION=debug "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
"$venv/bin/python" -m pytest -q python/tests --ignore=python/tests/vllm "$@"
