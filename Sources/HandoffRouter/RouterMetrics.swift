import Metrics

/// The router's Prometheus-facing metrics: requests by outcome and the time to first byte the client saw.
struct RouterMetrics: Sendable {
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) { self.factory = factory }

    /// A request ended: `outcome` is ok, client_error, refused (no pair), prefill_failed, decode_failed or
    /// client_gone.
    func finished(api: CompletionAPI, outcome: String) {
        Counter(
            label: "handoff_router_requests_total", dimensions: [("api", api.rawValue), ("outcome", outcome)],
            factory: factory
        )
        .increment()
    }

    /// Seconds from the request's arrival to the first byte of decode's answer (TTFT at the router, streaming).
    func firstByte(nanoseconds: Int64) {
        Metrics.Timer(label: "handoff_router_ttft_seconds", factory: factory).recordNanoseconds(nanoseconds)
    }

    /// Seconds the prefill engine took (request sent to answer received).
    func prefill(nanoseconds: Int64) {
        Metrics.Timer(label: "handoff_router_prefill_seconds", factory: factory).recordNanoseconds(nanoseconds)
    }

    /// Requests being handled now.
    func inFlight(_ count: Int) {
        Gauge(label: "handoff_router_requests_in_flight", factory: factory).record(count)
    }
}
