import CoreMetrics
import HandoffControlProtocol
import HandoffDataPlane
import Synchronization

/// The coordinator's Prometheus-facing metrics, through swift-metrics.
///
/// Transfer metrics are shaped like vLLM's NIXL connector metrics so existing dashboards map onto them:
/// `handoff_kv_transfer_seconds` ≈ `nixl_xfer_time_seconds`, `handoff_kv_post_seconds` ≈ `nixl_post_time_seconds`,
/// `handoff_kv_transfer_bytes` ≈ `nixl_bytes_transferred`, `handoff_kv_descriptors` ≈ `nixl_num_descriptors`,
/// and the failed-transfer, failed-notification and expired-lease counters. `handoff_kv_fallbacks_total{reason}`
/// counts transfers that ran over native TCP instead of UCX, by the reason auto selection gave.
///
/// Every label value is from a bounded set: transports are `ucx`, `shm`, `tcp` or `other`, and per-pair series
/// stop at `maxPairSeries` pairs (later pairs count under `other`), so that no worker's report can grow the
/// registry.
public final class CoordinatorMetrics: Sendable {
    let ttft: Timer
    let components: [String: Timer]
    let kvTransferSeconds: Timer
    let kvPostSeconds: Timer
    let kvTransferBytes: Recorder
    let kvDescriptors: Recorder
    let kvBytesByTransport: [String: Counter]
    let outcomes: [TicketState: Counter]
    let failedTransfers: Counter
    let failedNotifications: Counter
    let expiredLeases: Counter
    let decisionSeconds: Timer
    let fallbacks: [String: Counter]
    let workerGauges: [String: Gauge]
    let workersLost: [WorkerRole: Counter]
    let ticketsInFlight: [TicketState: Gauge]
    let oldestTransfer: Gauge
    private let pairSeries = Mutex<[PairLabels: PairCounters]>([:])
    let factory: any MetricsFactory

    /// The transports with series of their own; any other name counts as `other`.
    static let transportLabels = ["ucx", "shm", "tcp"]
    /// Prefill × decode pairs with series of their own.
    static let maxPairSeries = 1_024

    /// Metrics created through `factory` (by default the process-wide `MetricsSystem.factory`).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        ttft = Timer(label: "handoff_ttft_seconds", factory: factory)
        components = Dictionary(
            uniqueKeysWithValues: ["queue", "prefill", "kv_transfer", "first_decode", "coordination"].map {
                ($0, Timer(label: "handoff_ttft_component_seconds", dimensions: [("component", $0)], factory: factory))
            })
        kvTransferSeconds = Timer(label: "handoff_kv_transfer_seconds", factory: factory)
        kvPostSeconds = Timer(label: "handoff_kv_post_seconds", factory: factory)
        kvTransferBytes = Recorder(label: "handoff_kv_transfer_bytes", factory: factory)
        kvDescriptors = Recorder(label: "handoff_kv_descriptors", factory: factory)
        kvBytesByTransport = Dictionary(
            uniqueKeysWithValues: (Self.transportLabels + ["other"]).map {
                (
                    $0,
                    Counter(label: "handoff_kv_transfer_bytes_total", dimensions: [("transport", $0)], factory: factory)
                )
            })
        outcomes = Dictionary(
            uniqueKeysWithValues: [TicketState.done, .failed, .expired].map {
                (
                    $0,
                    Counter(label: "handoff_transfers_total", dimensions: [("outcome", $0.rawValue)], factory: factory)
                )
            })
        failedTransfers = Counter(label: "handoff_kv_failed_transfers_total", factory: factory)
        failedNotifications = Counter(label: "handoff_kv_failed_notifications_total", factory: factory)
        expiredLeases = Counter(label: "handoff_kv_expired_leases_total", factory: factory)
        decisionSeconds = Timer(label: "handoff_decision_seconds", factory: factory)
        fallbacks = Dictionary(
            uniqueKeysWithValues: (FallbackReason.allCases.map(\.rawValue) + ["other"]).map {
                ($0, Counter(label: "handoff_kv_fallbacks_total", dimensions: [("reason", $0)], factory: factory))
            })
        var gauges: [String: Gauge] = [:]
        for role in WorkerRole.allCases {
            for state in ["live", "lost"] {
                gauges["\(role.rawValue)/\(state)"] = Gauge(
                    label: "handoff_workers", dimensions: [("role", role.rawValue), ("state", state)], factory: factory)
            }
        }
        workerGauges = gauges
        workersLost = Dictionary(
            uniqueKeysWithValues: WorkerRole.allCases.map {
                (
                    $0,
                    Counter(label: "handoff_workers_lost_total", dimensions: [("role", $0.rawValue)], factory: factory)
                )
            })
        ticketsInFlight = Dictionary(
            uniqueKeysWithValues: TicketState.inFlightStates.map {
                ($0, Gauge(label: "handoff_tickets_in_flight", dimensions: [("state", $0.rawValue)], factory: factory))
            })
        oldestTransfer = Gauge(label: "handoff_oldest_transfer_seconds", factory: factory)
    }

    package func completed(_ parts: TTFTComponents) {
        ttft.recordNanoseconds(Int64(clamping: parts.ttft))
        for (name, value) in parts.named where name != "ttft" {
            components[name]?.recordNanoseconds(Int64(clamping: value))
        }
    }

    package func transferred(_ stats: TransferStats) {
        kvTransferSeconds.recordNanoseconds(Int64(stats.totalSeconds * 1e9))
        kvPostSeconds.recordNanoseconds(Int64(stats.postSeconds * 1e9))
        kvTransferBytes.record(stats.bytes)
        kvDescriptors.record(stats.descriptors)
        (kvBytesByTransport[stats.transport] ?? kvBytesByTransport["other"])?.increment(by: stats.bytes)
        if !stats.fallback.isEmpty { (fallbacks[stats.fallback] ?? fallbacks["other"])?.increment() }
    }

    /// Makes the pair's series (at zero) when a ticket first pairs the workers, so that Prometheus sees their
    /// first transfer as an increase rather than as a series appearing.
    func paired(prefill: String, decode: String) {
        _ = pairCounters(prefill: prefill, decode: decode)
    }

    /// Counts a finished transfer between `prefill` and `decode` (worker ids) in the per-pair series.
    func pairTransferred(prefill: String, decode: String, bytes: Int) {
        let counters = pairCounters(prefill: prefill, decode: decode)
        counters.transfers.increment()
        counters.bytes.increment(by: bytes)
    }

    private func pairCounters(prefill: String, decode: String) -> PairCounters {
        pairSeries.withLock { series -> PairCounters in
            var labels = PairLabels(prefill: prefill, decode: decode)
            if let known = series[labels] { return known }
            if series.count >= Self.maxPairSeries { labels = PairLabels(prefill: "other", decode: "other") }
            if let known = series[labels] { return known }
            let dimensions = [("prefill", labels.prefill), ("decode", labels.decode)]
            let made = PairCounters(
                transfers: Counter(label: "handoff_pair_transfers_total", dimensions: dimensions, factory: factory),
                bytes: Counter(label: "handoff_pair_kv_bytes_total", dimensions: dimensions, factory: factory))
            series[labels] = made
            return made
        }
    }

    /// Sets the in-flight gauges: tickets by state, and how long the oldest transfer in flight has run.
    func inFlight(_ counts: [TicketState: Int], oldestTransferSeconds: Double) {
        for (state, gauge) in ticketsInFlight { gauge.record(counts[state] ?? 0) }
        oldestTransfer.record(oldestTransferSeconds)
    }

    func workerLost(role: WorkerRole) { workersLost[role]?.increment() }

    private struct PairLabels: Hashable {
        var prefill: String
        var decode: String
    }

    private struct PairCounters: Sendable {
        let transfers: Counter
        let bytes: Counter
    }

    func outcome(_ state: TicketState) { outcomes[state]?.increment() }
    func transferFailed() { failedTransfers.increment() }
    func notificationFailed() { failedNotifications.increment() }
    func leaseExpired() { expiredLeases.increment() }
    func decision(nanoseconds: UInt64) { decisionSeconds.recordNanoseconds(Int64(clamping: nanoseconds)) }
    func workers(role: WorkerRole, state: String, count: Int) {
        workerGauges["\(role.rawValue)/\(state)"]?.record(count)
    }
}
