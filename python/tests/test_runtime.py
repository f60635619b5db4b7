"""The connector runtime from Python: a worker pair of Python engines completes requests through a real
`handoff coordinator`; refused answers and refused registrations raise with the reason."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import handoff
from conftest import TESTS, Coordinator, helper_environment


class Worker:
    def __init__(self, role: str, coordinator, transport: str, push: bool = False) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "engine_worker.py"), role, coordinator.address, transport]
            + (["push"] if push else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=helper_environment(HANDOFF_TOKEN=coordinator.token, HANDOFF_LOG_LEVEL="warning"))

    def wait_registered(self) -> None:
        line = self.process.stdout.readline().strip()
        assert line == "registered", f"the worker said {line!r}"

    def stop(self) -> dict:
        self.process.stdin.close()
        output = self.process.stdout.read()
        assert self.process.wait(timeout=30) == 0
        return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize("transport", ["auto", "tcp"])
def test_a_python_worker_pair_completes_requests_through_a_coordinator(coordinator, transport: str) -> None:
    prefill = Worker("prefill", coordinator, transport)
    decode = Worker("decode", coordinator, transport)
    prefill.wait_registered()
    decode.wait_registered()
    result = coordinator.request("py-engine", count=12, prompt_tokens=100, concurrency=3)
    accounts = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(accounts) == 12
    block_bytes = handoff.EngineLayout("py-engine", 4, 2, 64, 2, 16, 96, "fused").kv_layout().block_bytes
    for account in accounts:
        assert account["state"] == "done" and account["verified"], account
        assert int(account["kv_bytes"]) == 7 * block_bytes  # 100 tokens in 16-token blocks
    decode_summary = decode.stop()
    prefill_summary = prefill.stop()
    # The coordinator traces nothing here: no event carries a trace context.
    assert set(decode_summary.pop("traceparents").values()) == {""}
    assert decode_summary == {"verified": 12, "mismatched": 0, "released": 0, "pushed": 0, "blocks_in_use": 0}
    assert prefill_summary["released"] == 12 and prefill_summary["blocks_in_use"] == 0


@pytest.mark.parametrize("transport", ["auto", "tcp"])
def test_push_mode_writes_each_layer_into_decodes_blocks(coordinator, transport: str) -> None:
    prefill = Worker("prefill", coordinator, transport, push=True)
    decode = Worker("decode", coordinator, transport)
    prefill.wait_registered()
    decode.wait_registered()
    result = coordinator.request("py-engine", count=8, prompt_tokens=100, concurrency=2, mode="push")
    accounts = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(accounts) == 8
    for account in accounts:
        assert account["state"] == "done" and account["verified"] and account["transfer_mode"] == "push", account
    decode_summary = decode.stop()
    prefill_summary = prefill.stop()
    # Decode checked every pushed byte; prefill pushed every ticket and got all its blocks back.
    decode_summary.pop("traceparents")
    assert decode_summary == {"verified": 8, "mismatched": 0, "released": 0, "pushed": 0, "blocks_in_use": 0}
    assert prefill_summary["pushed"] == 8 and prefill_summary["released"] == 8
    assert prefill_summary["blocks_in_use"] == 0


class TraceSink(ThreadingHTTPServer):
    """Accepts OTLP/HTTP exports and counts them (what they hold is the observability tests' concern)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TraceSinkHandler)
        self.exports = 0


class TraceSinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.exports += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *arguments) -> None:
        pass


def test_events_carry_the_trace_context_of_a_traced_coordinator() -> None:
    """With trace export on, the coordinator's span for each request rides in its orders: the PREFILL and LOADED
    events of one ticket carry the same valid traceparent, and each request is a trace of its own."""
    sink = TraceSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    coordinator = Coordinator({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
                               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        prefill = Worker("prefill", coordinator, "tcp")
        decode = Worker("decode", coordinator, "tcp")
        prefill.wait_registered()
        decode.wait_registered()
        result = coordinator.request("py-engine", count=4, prompt_tokens=40, concurrency=2)
        assert result.returncode == 0, result.stdout + result.stderr
        decoded = decode.stop()["traceparents"]
        prefilled = prefill.stop()["traceparents"]
    finally:
        coordinator.stop()
        sink.shutdown()
    assert len(decoded) == 4 and decoded == prefilled
    assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", value) for value in decoded.values()), decoded
    assert len({value.split("-")[1] for value in decoded.values()}) == 4
    assert sink.exports > 0


def test_refused_answers_raise_and_a_refused_registration_stops_the_runtime(coordinator) -> None:
    spec = handoff.EngineLayout("py-engine", 2, 2, 32, 2, 16, 32)
    regions = [np.zeros(spec.kv_layout().region_bytes, dtype=np.uint8) for _ in range(2)]
    with handoff.Runtime("answers", "prefill", coordinator.address, spec, buffers=regions, token=coordinator.token,
                         transport="tcp", tcp_listen_host="127.0.0.1") as runtime:
        event = runtime.next_event(timeout=20)
        assert event is not None and event.kind == handoff.EventKind.REGISTERED
        with pytest.raises(handoff.UnknownError, match="no-such-ticket"):
            runtime.prefill_done("no-such-ticket", [1, 2])
        with pytest.raises(handoff.UnknownError):
            runtime.transfer_done("no-such-ticket")
        assert runtime.layout == spec.kv_layout()
    with pytest.raises(handoff.Closed):
        runtime.next_event(0)

    wrong = handoff.Runtime("intruder", "decode", coordinator.address, spec, token="not-the-coordinators-token",
                            transport="tcp", tcp_listen_host="127.0.0.1")
    with wrong, pytest.raises(handoff.Closed, match="(?i)unauthenticated|token"):
        while True:
            wrong.next_event(timeout=20)


def test_bad_runtime_options_are_refused_before_anything_starts(coordinator) -> None:
    spec = handoff.EngineLayout("py-engine", 2, 2, 32, 2, 16, 32)
    with pytest.raises(handoff.LayoutError, match="buffer"):
        handoff.Runtime("short", "prefill", coordinator.address, spec, buffers=[np.zeros(10, np.uint8)] * 2,
                        token=coordinator.token)
    with pytest.raises(handoff.InvalidArgument):
        handoff.Runtime("nowhere", "prefill", "not an address", spec, token=coordinator.token)
    with pytest.raises(handoff.LayoutError):
        handoff.Runtime("huge", "prefill", coordinator.address,
                        handoff.EngineLayout("py-engine", 1 << 20, 1 << 16, 1 << 16, 8, 1 << 16, 1 << 30),
                        token=coordinator.token)
