/// Whether UCX endpoints are created with peer-failure handling (`UCP_ERR_HANDLING_MODE_PEER`).
///
/// With it, UCX reports a dead or unreachable peer as an endpoint error; but UCX 1.13's shared-memory transports
/// (posix, sysv, cma) do not support it, so a same-host peer would be reached over TCP instead. Without it, a
/// stalled transfer still fails at its deadline, and liveness comes from the control plane's heartbeats.
public enum UCXErrorHandling: String, Sendable, Hashable, CaseIterable {
    /// Peer-failure handling for peers on other hosts; none for peers on this host, so shared memory is used.
    case automatic
    /// Always ask for peer-failure handling (same-host peers then use TCP or RDMA loopback).
    case peer
    /// Never ask for it.
    case none

    func detectsPeerFailure(peerHost: String) -> Bool {
        switch self {
        case .automatic: peerHost != HostIdentity.current
        case .peer: true
        case .none: false
        }
    }
}
