"""Fixtures of the Python package's tests: the repository's `handoff` executable and a real coordinator."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

TESTS = Path(__file__).resolve().parent
REPOSITORY = TESTS.parent.parent
sys.path.insert(0, str(TESTS))  # kvpattern, for the tests and the helper processes they start


def handoff_executable() -> Path:
    """The `handoff` built beside the library: $HANDOFF_BIN, else the clone's debug build."""
    path = Path(os.environ.get("HANDOFF_BIN", REPOSITORY / ".build" / "debug" / "handoff"))
    if not path.exists():
        pytest.fail(f"no handoff executable at {path}: run `swift build` (or set HANDOFF_BIN)")
    return path


def helper_environment(**extra: str) -> dict:
    """The environment of a helper process: this one's, able to import kvpattern."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    environment.update(extra)
    return environment


class Coordinator:
    """A `handoff coordinator` process on a free loopback port."""

    def __init__(self, environment: Optional[dict] = None) -> None:
        """`environment`: variables the coordinator gets besides this process's (its trace export, say)."""
        self.token = secrets.token_hex(16)
        self.process = subprocess.Popen(
            [str(handoff_executable()), "coordinator", "--listen", "127.0.0.1:0", "--no-metrics",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, HANDOFF_TOKEN=self.token, **(environment or {})))
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING grpc="):
            self.process.kill()
            raise RuntimeError(f"the coordinator did not start: {line!r}")
        self.address = f"127.0.0.1:{line.split()[1].split('=')[1]}"

    def request(self, model: str, count: int, prompt_tokens: int, concurrency: int = 1,
                mode: str = "pull") -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(handoff_executable()), "request", "--coordinator", self.address, "--model", model,
             "--count", str(count), "--prompt-tokens", str(prompt_tokens), "--concurrency", str(concurrency),
             "--mode", mode],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, HANDOFF_TOKEN=self.token))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def coordinator():
    running = Coordinator()
    yield running
    running.stop()
