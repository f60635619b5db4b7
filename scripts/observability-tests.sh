#!/usr/bin/env bash
# The observability tests (deploy/tests): the alert rules through promtool; one `handoff demo --observe` run
# watched by headless chromium (the live view) and by its own Prometheus (every Grafana panel's PromQL, the alert
# rules); and a traced demo exporting to an OTLP/HTTP receiver the test serves (opentelemetry-proto's messages). Prometheus, chromium and chromedriver come from Debian (scripts/install-deps.sh); pytest from the
# Python tests' venv ($HANDOFF_PYTHON_VENV). Needs the `swift build` that scripts/test.sh runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HANDOFF_PYTHON_VENV:-$HOME/.cache/handoff/python-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "pytest>=7" "opentelemetry-proto>=1.20"
"$venv/bin/python" -m pytest -q -s -p no:cacheprovider deploy/tests "$@"
