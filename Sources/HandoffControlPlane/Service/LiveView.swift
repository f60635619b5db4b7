import Foundation
import HandoffControlProtocol
import HandoffDataPlane
import Synchronization

/// The coordinator's live view for humans, served beside `/metrics`: `GET /` is a page (`LiveViewPage`, no build
/// step, no external resources) that polls `GET /api/live` every second and draws the fleet, the current pairs and
/// the TTFT breakdown.
///
/// The snapshot carries what `handoff topo --coordinator` shows, minus descriptors, endpoints and keys: the metrics
/// port has no token.
public struct LiveView: Sendable {
    let coordinator: Coordinator
    /// Pairs listed at most, those with the most tickets in flight and then completed first.
    public var maxPairs = 200
    /// How long a snapshot is served again before the coordinator is asked for a new one: however many clients
    /// poll, the coordinator's actor makes at most one snapshot per interval.
    public var reuseInterval: Duration = .milliseconds(250)
    private let cache = SnapshotCache()

    public init(coordinator: Coordinator) { self.coordinator = coordinator }

    /// The page.
    public var page: [UInt8] { Array(LiveViewPage.html.utf8) }

    /// The snapshot as JSON: the last one while it is younger than `reuseInterval`, else a new one.
    public func snapshot() async -> [UInt8] {
        let now = ContinuousClock.now
        if let recent = cache.recent(since: now - reuseInterval) { return recent }
        let fresh = await makeSnapshot()
        cache.store(fresh, at: now)
        return fresh
    }

    private func makeSnapshot() async -> [UInt8] {
        let workers = await coordinator.workerStatuses()
        let pairs = await coordinator.pairStatuses()
        let aggregates = await coordinator.aggregates()
        let inFlight = await coordinator.inFlight
        let snapshot = Snapshot(
            workers: workers.map(Snapshot.Worker.init),
            pairs: Array(pairs.sorted { ($0.inFlight, $0.completed) > ($1.inFlight, $1.completed) }.prefix(maxPairs)),
            totals: .init(aggregates, inFlight: inFlight),
            ttft: aggregates.components, decision: aggregates.decisionSeconds)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(snapshot)) ?? Data("{}".utf8))
    }

    /// What `/api/live` returns.
    struct Snapshot: Encodable {
        var workers: [Worker]
        var pairs: [PairStatus]
        var totals: Totals
        /// Rolling percentiles of TTFT and of each component, seconds, by name.
        var ttft: [String: Percentiles]
        var decision: Percentiles

        struct Worker: Encodable {
            var id: String
            var instance: String
            var role: String
            var model: String
            var node: String
            var rack: String
            var state: String
            var lostReason: String
            var freeBlocks: Int
            var totalBlocks: Int
            var inFlight: Int
            var queueDepth: Int
            var secondsSinceHeartbeat: Double
            /// The data planes it offers (`ucx`, `shm`, `tcp`).
            var offers: [String]

            init(_ status: WorkerStatus) {
                let registration = status.registration
                id = registration.identity.id
                instance = String(registration.identity.instance)
                role = registration.role.rawValue
                model = registration.layout.model
                node = registration.node
                rack = registration.rack
                state = status.live ? "live" : "lost"
                lostReason = status.lostReason
                freeBlocks = status.freeBlocks
                totalBlocks = registration.layout.numBlocks
                inFlight = status.inFlight
                queueDepth = status.queueDepth
                secondsSinceHeartbeat = status.secondsSinceHeartbeat
                offers = ((try? PoolDescriptor(decoding: registration.descriptor).offers()) ?? []).map(\.transport)
            }
        }

        struct Totals: Encodable {
            var admitted: Int
            var done: Int
            var failed: Int
            var expired: Int
            var recomputed: Int
            var inFlight: Int
            var kvBytes: Int

            init(_ aggregates: CoordinatorAggregates, inFlight: Int) {
                admitted = aggregates.admitted
                done = aggregates.done
                failed = aggregates.failed
                expired = aggregates.expired
                recomputed = aggregates.recomputed
                self.inFlight = inFlight
                kvBytes = aggregates.kvBytes
            }
        }
    }
}

/// The last snapshot and when it was asked for.
private final class SnapshotCache: Sendable {
    private let last = Mutex<(at: ContinuousClock.Instant, body: [UInt8])?>(nil)

    func recent(since oldest: ContinuousClock.Instant) -> [UInt8]? {
        last.withLock { last in last.flatMap { $0.at >= oldest ? $0.body : nil } }
    }

    func store(_ body: [UInt8], at time: ContinuousClock.Instant) { last.withLock { $0 = (time, body) } }
}
