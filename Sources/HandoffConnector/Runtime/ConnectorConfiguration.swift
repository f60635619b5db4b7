import HandoffClient
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// What an engine tells the connector runtime about itself: who it is, where the coordinator is, its KV cache's
/// real layout and how its data plane runs. The descriptor, offers and compatibility hash are derived from it.
public struct ConnectorConfiguration: Sendable {
    /// The worker's id, unique among the coordinator's workers (e.g. the pod name).
    public var id: String
    public var role: WorkerRole
    /// The engine's KV cache as the engine sees it (`KVLayoutSpec(engineModel:...)`).
    public var layout: KVLayoutSpec
    public var coordinator: CoordinatorAddress
    /// Placement labels the coordinator prefers near pairs by.
    public var node = ""
    public var rack = ""
    /// Where the engine serves inference requests (its HTTP base URL), so a router can send it paired requests;
    /// empty for an engine the coordinator drives alone.
    public var endpoint = ""
    /// The data plane: auto (UCX where both peers have it, native TCP otherwise), ucx or tcp.
    public var transport: TransportSelection = .auto
    /// Where the native TCP data plane listens (IPv4); 0.0.0.0 advertises every interface's address.
    public var tcpListenHost = "0.0.0.0"
    /// The addresses peers reach the native TCP data plane at (IPv4 or DNS names); nil derives them.
    public var tcpAdvertisedHosts: [String]?
    /// UCX transports (UCX_TLS), nil: UCX_TLS when set, otherwise all of UCX's but tcp.
    public var ucxTransports: [String]?
    /// Mutual TLS on the native TCP data plane; nil: the coordinator's TLS files when they name a certificate, its
    /// key and a CA (mutual TLS there too), otherwise none. With TLS, `auto` leaves UCX out: it cannot encrypt.
    public var dataPlaneTLS: DataPlaneTLS?

    /// The data plane's TLS: `dataPlaneTLS`, or the coordinator's mutual TLS files.
    var effectiveDataPlaneTLS: DataPlaneTLS? { dataPlaneTLS ?? coordinator.tls?.dataPlaneTLS }
    /// Pulls (decode) that may run at once; more wait their turn.
    public var maxConcurrentPulls = 4
    /// The most data-plane ops one pull keeps in flight.
    public var pullWindow = 128
    /// Push mode, decode: how long after granting a push its blocks stay reserved when the ticket ends before the
    /// KV landed, over a transport that cannot stop a peer's writes (shared memory, RDMA): at least the
    /// coordinator's transfer timeout, which bounds the prefill worker's push.
    public var pushQuarantine: Duration = .seconds(30)
    /// The most events queued for the engine; the session waits while the queue is full.
    public var eventCapacity = 4096
    /// Makes, from what the pool's descriptor offers, what the native TCP data-plane port answers
    /// `handoff topo --peer` probes with. nil refuses probes.
    public var probeAnswer: (@Sendable (_ offers: [DataPlaneOffer]) -> DataPlaneProbe.AnswerProvider)?

    public init(id: String, role: WorkerRole, layout: KVLayoutSpec, coordinator: CoordinatorAddress) {
        self.id = id
        self.role = role
        self.layout = layout
        self.coordinator = coordinator
    }
}

/// Where the KV pool's memory comes from.
public enum ConnectorMemory {
    /// The engine's own memory: one buffer per layer, each at least the layout's region size, valid until the
    /// runtime has stopped (`run` returned).
    case engine([UnsafeMutableRawBufferPointer])
    /// The transport allocates the pool (shared memory where UCX can); the engine reaches it through
    /// `ConnectorRuntime.pool`.
    case allocate
}
