"""An OTLP/HTTP trace receiver for the tests: it serves opentelemetry-proto's ExportTraceServiceRequest on
/v1/traces and keeps every span with its service, as a collector would. Used by deploy/tests/test_traces.py and by
the vLLM end-to-end tests (python/tests/vllm), whose venvs both hold opentelemetry-proto."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_service


class Receiver(ThreadingHTTPServer):
    """Accepts OTLP/HTTP protobuf exports on /v1/traces and keeps every span with its service."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.spans: List[dict] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The OTLP/HTTP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) to export to."""
        return f"http://127.0.0.1:{self.server_port}"

    def snapshot(self) -> List[dict]:
        with self.lock:
            return list(self.spans)


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


def started() -> Receiver:
    """A receiver on a free loopback port, serving on a thread of its own until `shutdown()`."""
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver
