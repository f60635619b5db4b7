"""Spans an engine makes for its part of a traced request, exported with OpenTelemetry's SDK over OTLP. Each is a
child of the coordinator's span for the request, whose W3C traceparent the runtime's events carry (`Event.traceparent`),
so that the engine's part shows inside the request's one trace.

Export is off, and OpenTelemetry is not imported, unless the standard variables ask for it:
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (vLLM's --otlp-traces-endpoint sets the first for its
engine process), or OTEL_TRACES_EXPORTER=otlp. The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or
OTEL_EXPORTER_OTLP_PROTOCOL): `grpc`, the default of vLLM's own exporter, or `http/protobuf`. OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and OTEL_BSP_* apply as OpenTelemetry defines them.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

logger = logging.getLogger("handoff.tracing")

Attributes = Mapping[str, Any]


def export_requested(environment: Mapping[str, str] = os.environ) -> bool:
    """Whether `environment` asks for trace export, as the `handoff` executables read it."""
    exporter = environment.get("OTEL_TRACES_EXPORTER")
    if exporter is not None:
        return exporter != "none"
    return "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in environment or "OTEL_EXPORTER_OTLP_ENDPOINT" in environment


class SpanExport:
    """One process's trace export: spans recorded after the fact (their start and end are known when they are
    made), batched and sent in the background. Recording never raises: a span that cannot be made is logged and
    dropped, and the engine goes on."""

    def __init__(self, service_name: str, instance: str, environment: Mapping[str, str] = os.environ) -> None:
        """`service_name` unless OTEL_SERVICE_NAME says otherwise; `instance` is the `service.instance.id` (the
        worker's id). `environment` decides whether to export and over which protocol; the SDK's exporter and
        resource read their own settings (endpoint, headers, OTEL_SERVICE_NAME) from the process's environment."""
        self._provider: Any = None
        self._tracer: Any = None
        self._propagator: Any = None
        if not export_requested(environment):
            return
        try:
            self._start(service_name, instance, environment)
        except Exception as error:  # a missing package or a bad setting must not stop the engine
            logger.warning("Handoff trace export is off: %s", error)
            self._provider = self._tracer = None

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def record(self, name: str, traceparent: str, start_ns: int, end_ns: int, attributes: Attributes,
               error: Optional[str] = None) -> str:
        """Records span `name` from `start_ns` to `end_ns` (nanoseconds since the epoch) as a child of
        `traceparent`; returns the new span's traceparent (for its children), or "" when nothing was recorded (export
        off, or an untraced request)."""
        if self._tracer is None or not traceparent:
            return ""
        try:
            from opentelemetry.trace import Status, StatusCode

            parent = self._propagator.extract({"traceparent": traceparent})
            span = self._tracer.start_span(name, context=parent, start_time=start_ns, attributes=dict(attributes))
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
            span.end(end_time=max(start_ns, end_ns))
            context = span.get_span_context()
            if not context.is_valid:
                return ""
            return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        except Exception:
            logger.debug("Handoff span %s was dropped", name, exc_info=True)
            return ""

    def shutdown(self) -> None:
        """Exports what is batched and stops."""
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()

    def _start(self, service_name: str, instance: str, environment: Mapping[str, str]) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        exporter_name = environment.get("OTEL_TRACES_EXPORTER", "otlp")
        if exporter_name != "otlp":
            raise ValueError(f"OTEL_TRACES_EXPORTER={exporter_name} is not supported: set otlp, or none")
        attributes = {"service.instance.id": instance}
        if not environment.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = service_name
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(self._exporter(environment)))
        self._provider = provider
        self._tracer = provider.get_tracer("handoff")
        self._propagator = TraceContextTextMapPropagator()

    @staticmethod
    def _exporter(environment: Mapping[str, str]) -> Any:
        protocol = environment.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environment.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        elif protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        else:
            raise ValueError(f"OTLP protocol {protocol!r} is not supported: set grpc or http/protobuf")
        return OTLPSpanExporter()
