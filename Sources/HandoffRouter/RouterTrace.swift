import HTTPTypes
import HandoffControlProtocol
import Tracing

/// The router's spans for one request, made only when a tracer is installed (`handoff router` installs swift-otel's
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
///
/// `handoff.router.request` (a server span, a child of the client's `traceparent` header, or a new trace) runs from
/// the request's arrival until its answer is written or it fails. Its `traceparent` goes to the coordinator's
/// admission, whose `handoff.request` is then its child. Under it, `handoff.router.prefill` and
/// `handoff.router.decode` (client spans) cover the calls to the engines, each of which gets that span's
/// `traceparent` header, so that an engine that traces (vLLM with `--otlp-traces-endpoint`) joins the same trace.
/// Without a tracer the client's own header is passed on unchanged.
struct RouterTrace: Sendable {
    static let header = HTTPField.Name("traceparent")!

    /// The request's span; nil when no tracer is installed.
    let span: (any Span)?
    /// What the coordinator and the engines get: `span`'s `traceparent`, or the client's (valid or empty).
    let traceparent: String

    /// Starts the request's span under the client's `traceparent` header.
    static func start(_ api: CompletionAPI, headers: HTTPFields) -> RouterTrace {
        let client = TraceParent.checked(headers[header] ?? "")
        guard TraceParent.isTracing else { return RouterTrace(span: nil, traceparent: client) }
        let span = InstrumentationSystem.tracer.startSpan(
            "handoff.router.request", context: TraceParent.context(client), ofKind: .server)
        span.attributes["handoff.api"] = api.rawValue
        return RouterTrace(span: span, traceparent: TraceParent.of(span.context))
    }

    /// A client span for a call to an engine, and the `traceparent` that call carries.
    func call(_ name: String, engine worker: String, url: String) -> (span: (any Span)?, traceparent: String) {
        guard let span else { return (nil, traceparent) }
        let call = InstrumentationSystem.tracer.startSpan(name, context: span.context, ofKind: .client)
        call.attributes["handoff.worker"] = worker
        call.attributes["url.full"] = url
        return (call, TraceParent.of(call.context))
    }

    /// Marks a call's span failed with `error`.
    static func failed(_ call: (any Span)?, _ error: any Error) {
        call?.recordError(error)
        call?.setStatus(SpanStatus(code: .error))
    }

    /// Records what the coordinator decided for the request.
    func admitted(requestID: String, promptTokens: Int, prefill: String, decode: String) {
        guard let span else { return }
        span.attributes["handoff.request_id"] = requestID
        span.attributes["handoff.prompt_tokens"] = promptTokens
        span.attributes["handoff.prefill.worker"] = prefill
        span.attributes["handoff.decode.worker"] = decode
    }

    /// Ends the request's span with its outcome (the router's `outcome` label); an outcome other than `ok` is an
    /// error, with `reason`.
    func end(outcome: String, reason: String? = nil) {
        guard let span else { return }
        span.attributes["handoff.outcome"] = outcome
        if outcome != "ok" { span.setStatus(SpanStatus(code: .error, message: reason ?? outcome)) }
        span.end()
    }
}
