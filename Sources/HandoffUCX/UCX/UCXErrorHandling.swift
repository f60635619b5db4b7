import HandoffDataPlane

/// Whether UCX endpoints are created with peer-failure handling (`UCP_ERR_HANDLING_MODE_PEER`).
///
/// With it, UCX reports a dead or unreachable peer as an endpoint error; but UCX 1.13's shared-memory transports
/// (posix, sysv, cma) do not support it, so a same-host peer would be reached over TCP instead. Without it, a
/// stalled transfer still fails at its deadline, and liveness comes from the control plane's heartbeats.
public enum UCXErrorHandling: String, Sendable, Hashable, CaseIterable {
    /// No peer-failure handling for a peer on this host when shared-memory transports are allowed, so that they
    /// are used; peer-failure handling otherwise.
    case automatic
    /// Always ask for peer-failure handling (same-host peers then use TCP or RDMA loopback).
    case peer
    /// Never ask for it.
    case none

    func detectsPeerFailure(peerHost: String, transports: [String]?) -> Bool {
        switch self {
        case .automatic: peerHost != HostIdentity.current || !Self.allowsSharedMemory(transports)
        case .peer: true
        case .none: false
        }
    }

    /// Whether a UCX transport list (`UCX_TLS` syntax; nil for UCX_TLS or UCX's default) lets UCX use shared memory.
    static func allowsSharedMemory(_ transports: [String]?) -> Bool {
        let names = (transports ?? ["all"]).map { $0.lowercased() }
        let sharedMemory: Set<String> = ["posix", "sysv", "cma", "knem", "xpmem"]
        let aliases: Set<String> = ["shm", "sm", "mm", "all"]
        if names.first?.hasPrefix("^") == true {
            let excluded = Set(names.map { String($0.drop { $0 == "^" }) })
            return excluded.isDisjoint(with: aliases) && !sharedMemory.isSubset(of: excluded)
        }
        return names.contains { sharedMemory.contains($0) || aliases.contains($0) }
    }
}
