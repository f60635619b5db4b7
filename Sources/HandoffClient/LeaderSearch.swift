import GRPCCore
import HandoffControlProtocol
import HandoffCore

/// Which coordinator to call next while looking for a cluster's leader.
///
/// A follower's refusal (`LeaderRedirect`) names the leader: go there at once. A refusal that names none (an
/// election under way), or an address that cannot be reached while others are listed, moves to the next
/// address after a short pause. Any other error, or running past the timeout, ends the search.
public struct LeaderSearch: Sendable {
    public let endpoints: [HostPort]
    /// The coordinator to call now.
    public private(set) var target: HostPort
    private let deadline: ContinuousClock.Instant?
    private var index = 0

    /// - Parameter timeout: how long the search may go on; nil: as long as the caller retries.
    public init(endpoints: [HostPort], start: HostPort? = nil, timeout: Duration?) {
        precondition(!endpoints.isEmpty, "a leader search needs an address")
        self.endpoints = endpoints
        let first = start.flatMap { endpoints.firstIndex(of: $0) } ?? 0
        index = first
        target = endpoints[first]
        deadline = timeout.map { .now + $0 }
    }

    /// After `error` from `target`: how long to wait before calling the new `target`, or nil to give up.
    public mutating func retry(after error: any Error) -> Duration? {
        guard deadline.map({ ContinuousClock.now < $0 }) ?? true, let error = error as? RPCError,
            error.code == .unavailable
        else {
            return nil
        }
        if let named = error.metadata[stringValues: LeaderRedirect.metadataKey].first(where: { _ in true }) {
            if let leader = endpoints.firstIndex(where: { $0.description == named }), leader != index {
                index = leader
                target = endpoints[leader]
                return .zero
            }
        } else if endpoints.count == 1 {
            return nil  // one coordinator, unreachable or shutting down: not a failover
        }
        index = (index + 1) % endpoints.count
        target = endpoints[index]
        return .milliseconds(50)
    }
}
