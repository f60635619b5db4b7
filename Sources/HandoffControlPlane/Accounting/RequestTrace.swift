import HandoffControlProtocol
import Tracing

/// The coordinator's spans of one attempt at a request, made only when a tracer is installed (`handoff coordinator`
/// installs swift-otel's when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise tracing costs one type check per
/// attempt).
///
/// `handoff.request` runs from the request's admission to the attempt's end (a recomputed request's later attempt
/// covers the earlier ones' time too, as its queue does), a child of the caller's `traceparent` (a new trace without
/// one). Under it: `handoff.pair` (the decision: the pair, its distance and the loads that chose it), and
/// when the attempt ends, `handoff.queue`, `handoff.prefill`, `handoff.reserve`, `handoff.kv_transfer` (the
/// transfer's bytes, ops, transport, lanes, fallback and post time as the decode worker reported them) and
/// `handoff.first_decode` from the ticket's timeline. The workers make their own spans under `traceparent`.
struct RequestTrace: Sendable {
    let span: any Span
    /// The W3C `traceparent` of `span`: what the workers' orders carry.
    let traceparent: String
    /// The coordinator clock's mapping to wall time, read once so that the attempt's spans line up exactly.
    let clock: WallClockMapping

    /// Starts the attempt's span at `start` (coordinator clock); nil when no tracer is installed.
    static func start(
        _ request: AdmitRequest, attempt: Int, at start: UInt64, clock: WallClockMapping
    ) -> RequestTrace? {
        guard TraceParent.isTracing else { return nil }
        let span = InstrumentationSystem.tracer.startSpan(
            "handoff.request", context: TraceParent.context(request.traceparent), ofKind: .server,
            at: clock.instant(start))
        span.attributes["handoff.request_id"] = request.requestID
        span.attributes["handoff.model"] = request.model
        span.attributes["handoff.prompt_tokens"] = request.promptTokens
        span.attributes["handoff.attempt"] = attempt
        span.attributes["handoff.transfer_mode"] = request.transferMode == .push ? "push" : "pull"
        return RequestTrace(span: span, traceparent: TraceParent.of(span.context), clock: clock)
    }

    /// Records the decision that paired `prefill` with `decode`, from `started` to `ended`.
    func paired(
        prefill: PairingCandidate, decode: PairingCandidate, blocks: Int, from started: UInt64, to ended: UInt64
    ) {
        let pair = child("handoff.pair", from: started)
        let distance =
            !prefill.node.isEmpty && prefill.node == decode.node
            ? "same node \(prefill.node)"
            : !prefill.rack.isEmpty && prefill.rack == decode.rack
                ? "same rack \(prefill.rack)" : "same compatibility hash"
        pair.attributes["handoff.blocks"] = blocks
        pair.attributes["handoff.prefill.worker"] = prefill.identity.description
        pair.attributes["handoff.decode.worker"] = decode.identity.description
        pair.attributes["handoff.pair.distance"] = distance
        pair.attributes["handoff.pair.reason"] =
            "\(distance); prefill queue \(prefill.load); decode load \(decode.load) with \(decode.freeBlocks) free "
            + "blocks"
        pair.attributes["handoff.prefill.load"] = prefill.load
        pair.attributes["handoff.decode.load"] = decode.load
        pair.attributes["handoff.decode.free_blocks"] = decode.freeBlocks
        pair.end(at: clock.instant(ended))
    }

    /// Ends the attempt at `time`: its stages as children, then its own span with the outcome.
    func end(_ ticket: Ticket, state: TicketState, reason: String, at time: UInt64) {
        let timeline = ticket.timeline
        let started = timeline.prefillStarted ?? timeline.prefillDone
        stage("handoff.queue", timeline.admitted, started)
        stage("handoff.prefill", started, timeline.prefillDone) {
            $0.attributes["handoff.prefill.worker"] = ticket.prefill.description
        }
        stage("handoff.reserve", timeline.admitted, timeline.reserved) {
            $0.attributes["handoff.decode.worker"] = ticket.decode.description
            $0.attributes["handoff.blocks"] = ticket.blocks
            $0.attributes["handoff.cached_blocks"] = ticket.cachedBlocks
        }
        stage("handoff.kv_transfer", timeline.pullSent, timeline.transferDone) { span in
            guard let stats = ticket.transfer else { return }
            stats.record(on: span)
            span.attributes["handoff.verified"] = ticket.verified
        }
        stage("handoff.first_decode", timeline.transferDone, timeline.firstToken)
        span.attributes["handoff.outcome"] = state.rawValue
        span.attributes["handoff.ticket"] = ticket.id
        if state != .done {
            span.attributes["handoff.failure"] = reason
            span.setStatus(SpanStatus(code: .error, message: reason))
        }
        span.end(at: clock.instant(time))
    }

    private func child(_ name: String, from start: UInt64) -> any Span {
        InstrumentationSystem.tracer.startSpan(name, context: span.context, ofKind: .internal, at: clock.instant(start))
    }

    /// A child span from `start` to `end`, when both happened.
    private func stage(
        _ name: String, _ start: UInt64?, _ end: UInt64?, describe: (any Span) -> Void = { _ in }
    ) {
        guard let start, let end, end >= start else { return }
        let stage = child(name, from: start)
        describe(stage)
        stage.end(at: clock.instant(end))
    }
}

/// Maps the coordinator's monotonic nanoseconds to the wall-clock instants spans carry, from one reading of each.
struct WallClockMapping: Sendable {
    let wall: UInt64
    let monotonic: UInt64

    /// The mapping as of now, `monotonic` being the coordinator clock's reading now.
    init(monotonicNow monotonic: UInt64) {
        self.wall = DefaultTracerClock.now.nanosecondsSinceEpoch
        self.monotonic = monotonic
    }

    func instant(_ time: UInt64) -> DefaultTracerClock.Timestamp {
        .init(nanosecondsSinceEpoch: time <= monotonic ? wall &- (monotonic - time) : wall &+ (time - monotonic))
    }
}
