"""Fixtures of the observability tests: one `handoff demo --observe` run, with its Prometheus, shared by the tests
of the live view (during the run) and of the dashboard (after it)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent
REPOSITORY = DEPLOY.parent

# The demo's workload: long enough for the browser to watch requests finish and for Prometheus (scraping each
# second) to see rates. Prefill workers offer only TCP, so decode workers fall back to it with a reason: the
# fallback panels and alert see real data.
DEMO_REQUESTS = 360
DEMO_RATE = 8.0


def handoff_executable() -> Path:
    """$HANDOFF_BIN, else the clone's debug build."""
    path = Path(os.environ.get("HANDOFF_BIN", REPOSITORY / ".build" / "debug" / "handoff"))
    if not path.exists():
        pytest.fail(f"no handoff executable at {path}: run `swift build` (or set HANDOFF_BIN)")
    return path


def need(program: str, package: str) -> str:
    """The path of `program`; fails (the README's test command installs `package`) when it is missing."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed: `apt-get install {package}` (scripts/install-deps.sh does)")
    return path


class ObservedDemo:
    """`handoff demo --observe`: its stderr lines as they come, the live view's and Prometheus' URLs."""

    def __init__(self) -> None:
        need("prometheus", "prometheus")
        self.process = subprocess.Popen(
            [str(handoff_executable()), "demo", "--observe", "--model", "tiny", "--blocks", "256",
             "--prompt-tokens", "128,256", "--requests", str(DEMO_REQUESTS), "--rate", str(DEMO_RATE),
             "--prefill-transport", "tcp", "--json"],
            cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.live_view = self.wait_for("observe: live view ").split()[3]
        self.prometheus = self.wait_for("observe: Prometheus ").split()[2].rstrip("/")
        self.started = time.time()
        self.ended: float | None = None

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 120) -> str:
        """The next stderr line starting with `prefix`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    pytest.fail(f"the demo exited ({self.process.returncode}): {''.join(self.stderr[-20:])}")
                continue
            if line.startswith(prefix):
                return line
        pytest.fail(f"no '{prefix}' line from the demo within {timeout} s: {''.join(self.stderr[-20:])}")

    @property
    def running_requests(self) -> bool:
        """Whether the demo is still driving requests."""
        return self.ended is None and not any(line.startswith("the run is over") for line in self.stderr)

    def wait_until_over(self) -> None:
        if self.ended is None:
            if not any(line.startswith("the run is over") for line in self.stderr):
                self.wait_for("the run is over", timeout=180)
            self.ended = time.time()

    def stop(self) -> tuple[int, dict]:
        """Interrupts the demo; its exit status and its JSON summary."""
        self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        summary = json.loads(output) if output.strip().startswith("{") else {}
        return self.process.returncode, summary


@pytest.fixture(scope="session")
def demo():
    observed = ObservedDemo()
    try:
        yield observed
    finally:
        if observed.process.poll() is None:
            observed.stop()


def http_json(url: str, body: dict | None = None, method: str | None = None, timeout: float = 30) -> dict:
    """A JSON request; the decoded answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def prometheus_query(base: str, path: str, **parameters: str) -> dict:
    """A Prometheus HTTP API call (`/api/v1/...`); its `data`."""
    answer = http_json(f"{base}/api/v1/{path}?{urllib.parse.urlencode(parameters)}")
    assert answer["status"] == "success", answer
    return answer["data"]
