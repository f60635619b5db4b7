import HandoffControlProtocol

/// Where each of a worker's tickets stands, as the connector runtime tracks it between the coordinator's
/// instructions and the engine's answers.
struct TicketBook {
    enum Prefill {
        /// Sent to the engine; no blocks handed over yet.
        case computing(PrefillOrder)
        /// The engine handed over `blocks`, granted to the decode side until the lease ends.
        case held(blocks: [Int], grant: UInt64, leaseEnds: ContinuousClock.Instant)
    }

    enum Decode {
        /// Sent to the engine, which has not answered yet.
        case reserving(count: Int)
        /// The engine reserved `blocks`; waiting for the pull.
        case reserved([Int])
        /// A pull writes into `blocks`.
        case pulling([Int], transfer: Task<TransferStats, any Error>?)
        /// Released while the pull ran: the release goes to the engine once the pull has stopped.
        case releasing([Int], reason: String)
        /// The KV is in `blocks`; waiting for the engine's `transferDone`.
        case loaded([Int], TransferStats)
        /// The pull failed (reported); waiting for the coordinator's release.
        case failed([Int])
    }

    var prefill: [String: Prefill] = [:]
    var decode: [String: Decode] = [:]

    /// Every ticket, for a shutdown or a lost session.
    var tickets: [String] { Array(prefill.keys) + Array(decode.keys) }
}
