/// One thing `handoff topo` has to say about a node or a peer: what it found, what that means for KV transfer,
/// and what to do about it.
public struct Finding: Codable, Sendable, Equatable {
    public enum Severity: String, Codable, Sendable, Comparable, CaseIterable {
        case info
        case warning
        /// KV transfer will not work as deployed, or far below what the hardware can do.
        case error

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    public var severity: Severity
    public var code: FindingCode
    /// What it is about (`mlx5_0 port 1`, `GPU2`); nil when about the whole node.
    public var subject: String?
    /// What was found and what it means for KV transfer.
    public var message: String
    /// What to do about it.
    public var advice: String

    /// `findings` with errors first, then warnings, then information, each in the order given.
    public static func bySeverity(_ findings: [Finding]) -> [Finding] {
        findings.enumerated().sorted { lhs, rhs in
            lhs.element.severity != rhs.element.severity
                ? lhs.element.severity > rhs.element.severity : lhs.offset < rhs.offset
        }.map(\.element)
    }

    public init(_ severity: Severity, _ code: FindingCode, subject: String? = nil, message: String, advice: String) {
        self.severity = severity
        self.code = code
        self.subject = subject
        self.message = message
        self.advice = advice
    }
}

/// The kinds of finding, stable across releases so that scripts can match them.
public enum FindingCode: String, Codable, Sendable, CaseIterable {
    /// No RDMA device: KV moves over TCP.
    case noRDMA = "no-rdma"
    /// An RDMA port is not active.
    case rdmaPortDown = "rdma-port-down"
    /// A RoCE port has no RoCE v2 GID.
    case roceWithoutV2GID = "roce-no-v2-gid"
    /// An MTU below what the link should run.
    case lowMTU = "mtu-low"
    /// Two MTUs that should match do not.
    case mtuMismatch = "mtu-mismatch"
    /// A GPU's nearest NIC is beyond its PCIe switch.
    case gpuNICDistant = "gpu-nic-distant"
    /// A NIC serves only GPUs on other NUMA nodes.
    case nicNUMARemote = "nic-numa-remote"
    /// GPUs but no NIC at all.
    case noNIC = "no-nic"
    /// The memlock limit is below the KV pool.
    case memlockLow = "memlock-low"
    /// UCX cannot be used on this node.
    case ucxUnavailable = "ucx-unavailable"
    /// UCX lacks a transport that the hardware needs.
    case ucxMissingTransport = "ucx-missing-transport"
    /// UCX's environment excludes the transports the hardware needs.
    case ucxRestricted = "ucx-restricted"
    /// Part of the live node could not be read.
    case discoveryIncomplete = "discovery-incomplete"
    /// Part of the picture was not recorded (a recorded topology).
    case notRecorded = "not-recorded"
    /// Which transport carries KV to a peer, and why.
    case peerTransport = "peer-transport"
    /// A peer could not be reached or probed.
    case peerUnreachable = "peer-unreachable"
    /// This node has RDMA, but no RDMA device routes to the peer's address.
    case peerRouteNotRDMA = "peer-route-not-rdma"
    /// No worker is registered with the coordinator.
    case noWorkers = "no-workers"
    /// A registered worker's session is gone: the coordinator no longer pairs it.
    case workerLost = "worker-lost"
    /// A worker offers only the native TCP data plane: never RDMA or shared memory.
    case workerTCPOnly = "worker-tcp-only"
    /// A worker advertises only loopback TCP endpoints, yet has peers on other hosts.
    case workerLoopbackOnly = "worker-loopback-only"
    /// The coordinator did not say what workers' data planes offer.
    case offersUnknown = "offers-unknown"
    /// A model (or one of its layouts) has live workers of one role and none of the other.
    case roleMissing = "role-missing"
    /// A prefill and a decode worker that may be paired share no transport.
    case noCommonTransport = "no-common-transport"
}
