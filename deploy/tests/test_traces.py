"""Traces, for real: an OTLP/HTTP receiver (opentelemetry-proto's ExportTraceServiceRequest, served by this test)
collects the spans that `handoff demo` and the coordinator and workers it starts export, and each request must be
one trace whose spans nest across the processes and carry the transfer's figures."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPOSITORY, handoff_executable

trace_service = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="opentelemetry-proto is not installed (scripts/observability-tests.sh installs it)")

REQUESTS = 4


class Receiver(ThreadingHTTPServer):
    """Accepts OTLP/HTTP protobuf exports on /v1/traces and keeps every span with its service."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.spans: list[dict] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = trace_service.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.server.spans.append({
                            "service": resource.get("service.name"),
                            "instance": resource.get("service.instance.id"),
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "error": span.status.code == 2,
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                        })
        answer = trace_service.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *arguments) -> None:
        pass


def value(any_value):
    return getattr(any_value, any_value.WhichOneof("value")) if any_value.WhichOneof("value") else None


@pytest.fixture(scope="module")
def traced_demo():
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    environment = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}",
                       OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_BSP_SCHEDULE_DELAY="200")
    environment.pop("OTEL_SERVICE_NAME", None)
    result = subprocess.run(
        [str(handoff_executable()), "demo", "--model", "tiny", "--blocks", "256", "--prompt-tokens", "128,256",
         "--requests", str(REQUESTS), "--rate", "4", "--json"],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300)
    receiver.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    return receiver.spans


def test_each_request_is_one_trace_across_the_demo_the_coordinator_and_both_workers(traced_demo):
    traces = defaultdict(list)
    for span in traced_demo:
        traces[span["trace"]].append(span)
    roots = [span for span in traced_demo if span["name"] == "handoff.demo.request"]
    assert len(roots) == REQUESTS, sorted({span["name"] for span in traced_demo})
    assert len({root["trace"] for root in roots}) == REQUESTS
    for root in roots:
        spans = traces[root["trace"]]
        by_id = {span["id"]: span for span in spans}
        named = {span["name"]: span for span in spans}
        request = named["handoff.request"]
        assert request["service"] == "handoff-coordinator" and request["parent"] == root["id"]
        assert request["attributes"]["handoff.request_id"] == root["attributes"]["handoff.request_id"]
        assert request["attributes"]["handoff.outcome"] == "done"
        # The coordinator's stages, and the workers' own spans, are children of its request span.
        for name in ("handoff.pair", "handoff.queue", "handoff.prefill", "handoff.reserve", "handoff.kv_transfer",
                     "handoff.first_decode", "handoff.engine.prefill", "handoff.pull"):
            assert name in named, (name, sorted(named))
            assert named[name]["parent"] == request["id"], name
        assert named["handoff.engine.prefill"]["service"] == "handoff-worker"
        assert named["handoff.engine.prefill"]["instance"].startswith("prefill-")
        assert named["handoff.pull"]["service"] == "handoff-worker"
        assert named["handoff.pull"]["instance"].startswith("decode-")
        # Every span's parent is in the trace, and children start within their parents' time (clocks of one host).
        for span in spans:
            if span is root:
                continue
            parent = by_id[span["parent"]]
            assert parent["start"] - 1_000_000 <= span["start"] <= span["end"] <= parent["end"] + 1_000_000, span
        pair = named["handoff.pair"]["attributes"]
        assert pair["handoff.prefill.worker"].startswith("prefill-") and pair["handoff.decode.worker"].startswith(
            "decode-")
        assert pair["handoff.pair.distance"].startswith("same node")
        transfer = named["handoff.kv_transfer"]["attributes"]
        pulled = named["handoff.pull"]["attributes"]
        for attributes in (transfer, pulled):
            assert attributes["handoff.kv.bytes"] > 0 and attributes["handoff.kv.ops"] > 0
            assert attributes["handoff.kv.transport"] == "ucx" and attributes["handoff.kv.lanes"]
            assert attributes["handoff.kv.post_seconds"] >= 0 and attributes["handoff.kv.fallback"] == ""
        assert transfer["handoff.kv.bytes"] == pulled["handoff.kv.bytes"]
        assert not any(span["error"] for span in spans)
    print(f"\ntraces: {REQUESTS} requests, {len(traced_demo)} spans; one trace: " + ", ".join(
        f"{span['name']} ({span['service']}, {(span['end'] - span['start']) / 1e6:.2f} ms)"
        for span in sorted(traces[roots[0]["trace"]], key=lambda span: span["start"])))
