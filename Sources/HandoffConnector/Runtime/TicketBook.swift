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

    /// Prefill, push mode: where a ticket's KV goes and the writes under way. Only for tickets being computed.
    struct Push {
        /// Where to write; nil until the coordinator sends it.
        var target: PushTarget?
        /// The engine decided to let decode pull (no target in time, or a write failed): later targets are ignored.
        var declined = false
        /// The next layer to write: layers before it are written or being written.
        var nextLayer = 0
        /// The writes under way or done, one per batch of layers.
        var writes: [Task<TransferStats, any Error>] = []
        /// When the first write started.
        var started: ContinuousClock.Instant?
        /// `finishPush` took the writes: no more layers start.
        var finished = false
    }

    /// Decode, push mode: the WRITE grant of a ticket's reserved blocks, until the KV landed or the ticket ended.
    struct WriteGrant {
        var token: UInt64
        var issued: ContinuousClock.Instant
    }

    var prefill: [String: Prefill] = [:]
    var decode: [String: Decode] = [:]
    var pushes: [String: Push] = [:]
    /// Decode: tickets whose reservation the coordinator asked to grant for WRITE (push mode).
    var pushReservations: Set<String> = []
    var writeGrants: [String: WriteGrant] = [:]

    /// Every ticket, for a shutdown or a lost session.
    var tickets: [String] { Array(prefill.keys) + Array(decode.keys) }
}
