import HandoffDataPlane
import Logging

/// Which data plane a process runs: `auto` (same-host shared memory, else UCX where both peers have it, else
/// native TCP), or one of them (`shm` reaches same-host peers only).
public enum TransportSelection: String, Sendable, Hashable, CaseIterable {
    case auto
    case ucx
    case tcp
    case shm

    /// Starts the chosen transport.
    /// - Parameters:
    ///   - ucxTransports: UCX transport list (UCX_TLS), nil: UCX_TLS when set, otherwise all of UCX's but tcp.
    ///   - tcp: where the native TCP transport listens and what it advertises, and its TLS.
    /// - Throws: `DataPlaneError` when UCX (for `ucx`) or the TCP listener (for `tcp` and `auto`) cannot start, or
    ///   `ucx` is asked for with TLS.
    public func make(
        ucxTransports: [String]? = nil, tcp: TCPTransport.Configuration = .init(),
        logger: Logger = Logger(label: "handoff.dataplane")
    ) throws(DataPlaneError) -> any Transport {
        switch self {
        case .auto: return try AutoTransport(ucx: .init(transports: ucxTransports), tcp: tcp, logger: logger)
        case .ucx:
            if tcp.tls != nil {
                throw .setupFailed("UCX cannot encrypt what it moves: with TLS, use the tcp or auto data plane")
            }
            return try UCXTransport(configuration: .init(transports: ucxTransports), logger: logger)
        case .tcp: return try TCPTransport(configuration: tcp, logger: logger)
        case .shm: return try SharedMemoryTransport(logger: logger)
        }
    }
}
