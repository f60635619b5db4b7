import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// Settings of a simulated engine worker (`handoff worker`).
public struct SimulatedWorkerConfiguration: Sendable {
    public var id: String
    public var role: WorkerRole
    public var model: ModelPreset
    public var blockTokens: Int = KVGeometry.defaultBlockTokens
    public var numBlocks: Int = 384
    public var arrangement: KVArrangement = .split
    public var node: String = ""
    public var rack: String = ""
    /// Prefill speed of the timing model; the time is spread evenly over the layers.
    public var prefillTokensPerSecond: Double = 20_000
    /// Time of the first decode step after the KV is loaded.
    public var decodeStep: Duration = .milliseconds(15)
    /// How long decode keeps a request's blocks after the first token (the rest of its generation).
    public var decodeHold: Duration = .milliseconds(100)
    /// The data plane: auto (UCX where both peers have it, native TCP otherwise), ucx or tcp.
    public var transport: TransportSelection = .auto
    /// Where the native TCP transport listens (IPv4); 0.0.0.0 advertises every interface's address.
    public var tcpListenHost = "0.0.0.0"
    /// UCX transports (UCX_TLS), nil: UCX_TLS when set, otherwise all of UCX's but tcp.
    public var ucxTransports: [String]?
    /// Makes, from what the worker's pool descriptor offers, what its native TCP data-plane port answers
    /// `handoff topo --peer` probes with. nil refuses probes.
    public var probeAnswer: (@Sendable (_ offers: [DataPlaneOffer]) -> DataPlaneProbe.AnswerProvider)?
    /// Seed of the free list's initial shuffle.
    public var shuffleSeed: UInt64 = 1

    public init(id: String, role: WorkerRole, model: ModelPreset) {
        self.id = id
        self.role = role
        self.model = model
    }

    /// The connector runtime's configuration for this worker.
    public func connector(coordinator: CoordinatorAddress) -> ConnectorConfiguration {
        var connector = ConnectorConfiguration(id: id, role: role, layout: layoutSpec, coordinator: coordinator)
        connector.node = node
        connector.rack = rack
        connector.transport = transport
        connector.tcpListenHost = tcpListenHost
        connector.ucxTransports = ucxTransports
        connector.probeAnswer = probeAnswer
        connector.maxConcurrentPulls = 1  // one simulated GPU pulls one ticket at a time
        return connector
    }

    /// The layout spec of the pool this worker allocates.
    public var layoutSpec: KVLayoutSpec {
        KVLayoutSpec(preset: model, blockTokens: blockTokens, arrangement: arrangement, numBlocks: numBlocks)
    }
}
