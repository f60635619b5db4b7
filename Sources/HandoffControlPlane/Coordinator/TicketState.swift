import HandoffControlProtocol

/// Where a ticket is in its life. Every non-final state has a deadline.
public enum TicketState: String, Sendable, Hashable, CaseIterable {
    /// Paired; the prefill worker has the order but has not started.
    case admitted
    /// The prefill worker is computing.
    case prefilling
    /// Prefill done, its blocks are leased; waiting for the decode worker's reservation.
    case ready
    /// A load failed under `recompute` and no other pair had room yet: the request waits (up to the queue
    /// timeout) for one. Its account still names the failed attempt.
    case awaitingPair = "awaiting_pair"
    /// The decode worker is pulling.
    case transferring
    /// KV loaded and verified; waiting for the first token.
    case decoding
    /// First token produced.
    case done
    /// Failed with a reason.
    case failed
    /// A deadline or lease ran out.
    case expired

    /// Whether the ticket is over.
    public var isFinal: Bool { self == .done || self == .failed || self == .expired }

    /// The states of a request in flight.
    public static let inFlightStates = allCases.filter { !$0.isFinal }
}
