import HandoffControlProtocol
import Tracing

/// A worker's span for its part of a traced request: a child of the `traceparent` the coordinator's order carried.
/// Nothing is made when the order carries none or no tracer is installed (`handoff worker` installs swift-otel's
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; an engine embedding the runtime installs its own).
public enum OrderSpan {
    /// Starts span `name` under `traceparent`; nil when the request is not traced here.
    public static func start(_ name: String, under traceparent: String) -> (any Span)? {
        guard !traceparent.isEmpty, TraceParent.isTracing else { return nil }
        return InstrumentationSystem.tracer.startSpan(
            name, context: TraceParent.context(traceparent), ofKind: .internal)
    }
}
