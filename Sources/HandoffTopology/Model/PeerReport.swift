/// What `handoff topo --peer` learned about one peer: reachability, round trips, the peer's own topology, and
/// which transport carried a short bandwidth probe.
public struct PeerReport: Codable, Sendable, Equatable {
    /// Round-trip times of small messages on the probe connection, in microseconds.
    public struct RoundTrips: Codable, Sendable, Equatable {
        public var count: Int
        public var min: Double
        public var median: Double
        public var max: Double

        public init(count: Int, min: Double, median: Double, max: Double) {
            self.count = count
            self.min = min
            self.median = median
            self.max = max
        }
    }

    /// A short bandwidth probe: what carried it and how fast.
    public struct BandwidthProbe: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// A verified KV READ with `--transport auto`, as a worker would run it (against `bench serve`).
            case kvRead = "kv-read"
            /// Bytes streamed on a worker's native TCP data-plane port: the TCP path's bandwidth, not UCX's.
            case tcpStream = "tcp-stream"
        }

        public var kind: Kind
        /// `ucx` or `tcp`: the data plane that moved the bytes.
        public var transport: String
        /// The UCX transports of the connection's lanes (`rc_mlx5`, `tcp`, `posix`), empty for native TCP.
        public var ucxTransports: [String]
        /// Why `auto` fell back from UCX to TCP, with counts, if it did.
        public var fallbacks: [String: Int]
        public var bytes: Int
        public var gbps: Double
        /// Every byte arrived as sent (a KV read checks every block; a stream only counts its bytes).
        public var verified: Bool

        public init(
            kind: Kind = .kvRead, transport: String, ucxTransports: [String], fallbacks: [String: Int], bytes: Int,
            gbps: Double,
            verified: Bool
        ) {
            self.kind = kind
            self.transport = transport
            self.ucxTransports = ucxTransports
            self.fallbacks = fallbacks
            self.bytes = bytes
            self.gbps = gbps
            self.verified = verified
        }

        /// Whether a lane is InfiniBand/RoCE.
        public var usedRDMA: Bool { transport == "ucx" && ucxTransports.contains(where: UCXView.isRDMATransport) }

        /// Whether UCX moved the bytes through shared memory: the peer is on this host.
        public var usedSharedMemory: Bool {
            transport == "ucx" && ucxTransports.contains(where: PeerAnalysis.sharedMemoryTransports.contains)
        }

        enum CodingKeys: String, CodingKey {
            case kind, transport, fallbacks, bytes, gbps, verified
            case ucxTransports = "ucx_transports"
        }
    }

    /// `HOST:PORT` as given.
    public var address: String
    public var reachable: Bool
    /// Why the peer could not be reached or probed.
    public var error: String?
    /// Whether the peer answered and refused the probe (busy, or a data plane that answers none).
    public var refused = false
    public var connectMilliseconds: Double?
    public var roundTrips: RoundTrips?
    /// The local interface the connection left from, and the peer's interface it reached.
    public var localInterface: String?
    public var remoteInterface: String?
    /// The worker behind the port, when it is a worker's data-plane port (nil: `handoff bench serve`).
    public var remoteWorker: ProbedWorker?
    /// The local RDMA device and port librdmacm routes the peer's address through (when this node has RDMA
    /// devices), or why none does.
    public var rdmaRoute: RDMARoute?
    public var rdmaRouteError: RDMARouteError?
    /// The peer's own topology and findings.
    public var remote: NodeTopology?
    public var remoteFindings: [Finding]
    public var probe: BandwidthProbe?
    /// Why the bandwidth probe failed, when it did.
    public var probeError: String?

    public init(address: String, reachable: Bool, error: String? = nil) {
        self.address = address
        self.reachable = reachable
        self.error = error
        self.remoteFindings = []
    }

    enum CodingKeys: String, CodingKey {
        case address, reachable, error, refused, remote, probe
        case connectMilliseconds = "connect_ms"
        case roundTrips = "rtt_us"
        case localInterface = "local_interface"
        case remoteInterface = "remote_interface"
        case remoteFindings = "remote_findings"
        case remoteWorker = "worker"
        case rdmaRoute = "rdma_route"
        case rdmaRouteError = "rdma_route_error"
        case probeError = "probe_error"
    }
}
