import CoreMetrics

/// What a clustered coordinator reports about leadership and its registry in etcd.
///
/// `handoff_cluster_leader_term` is the number of leaderships the cluster has had (etcd keeps the count), so on the
/// leader, term − 1 is the number of failovers and handovers since the cluster was created.
public final class ClusterMetrics: Sendable {
    let isLeader: Gauge
    let term: Gauge
    let leaderships: Counter
    /// Leaderships this coordinator gave up without being asked to (lease lapsed, deposed, etcd lost).
    let stepDowns: Counter
    let takeoverSeconds: Timer
    let adoptedWorkers: Gauge
    let registryWrites: [String: Counter]
    let registryErrors: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        isLeader = Gauge(label: "handoff_cluster_is_leader", factory: factory)
        term = Gauge(label: "handoff_cluster_leader_term", factory: factory)
        leaderships = Counter(label: "handoff_cluster_leaderships_total", factory: factory)
        stepDowns = Counter(label: "handoff_cluster_step_downs_total", factory: factory)
        takeoverSeconds = Timer(label: "handoff_cluster_takeover_seconds", factory: factory)
        adoptedWorkers = Gauge(label: "handoff_cluster_adopted_workers", factory: factory)
        registryWrites = Dictionary(
            uniqueKeysWithValues: ["put", "delete", "renew"].map {
                (
                    $0,
                    Counter(label: "handoff_cluster_registry_writes_total", dimensions: [("op", $0)], factory: factory)
                )
            })
        registryErrors = Counter(label: "handoff_cluster_registry_errors_total", factory: factory)
        isLeader.record(0)
    }

    func wrote(_ op: String) { registryWrites[op]?.increment() }
}
