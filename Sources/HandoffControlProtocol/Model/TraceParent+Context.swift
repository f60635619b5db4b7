import Instrumentation
import ServiceContextModule
import Tracing

extension TraceParent {
    /// The `traceparent` of `context` as the installed instrument writes it; empty when it writes none (no tracer
    /// installed, or a context without a span).
    public static func of(_ context: ServiceContext) -> String {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: Headers())
        return checked(headers["traceparent"] ?? "")
    }

    /// A context whose span is the one `traceparent` names, for the installed instrument; the top-level context when
    /// `traceparent` is empty.
    public static func context(_ traceparent: String) -> ServiceContext {
        var context = ServiceContext.topLevel
        if !traceparent.isEmpty {
            InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: Headers())
        }
        return context
    }

    /// Whether a tracer other than the no-op one is installed: spans are made only then.
    public static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    private struct Headers: Extractor, Injector {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }
}
