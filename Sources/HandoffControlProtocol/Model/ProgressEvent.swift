/// A worker's report about one ticket.
public enum ProgressEvent: Sendable, Hashable {
    /// Prefill left the worker's queue and began computing.
    case prefillStarted
    /// Prefill finished; the prompt's KV is in these source blocks, in token order. `grant` is the data-plane
    /// grant the decode worker presents to read them (0: the pool is open to every holder of its descriptor).
    case prefillDone(sourceBlocks: [Int], grant: UInt64 = 0)
    /// The decode worker allocated these destination blocks, in token order. It already holds the prompt's first
    /// `cachedBlocks` blocks (its prefix cache): the destination blocks are for the rest, and only those move.
    /// `grant` (push mode) is the data-plane grant the prefill worker presents to WRITE into them (0: none).
    case reserved(destinationBlocks: [Int], cachedBlocks: Int = 0, grant: UInt64 = 0)
    /// Push mode: the prefill worker wrote the KV into the decode worker's reserved blocks while computing it;
    /// `exposedSeconds` is how long the engine waited for the push after computing its last layer.
    case pushDone(TransferStats, exposedSeconds: Double)
    /// The decode worker pulled the KV; `verified` says every block was checked and found intact, false a mismatch
    /// unless `checked` is false (the engine had nothing to check the content against).
    case transferDone(TransferStats, verified: Bool, checked: Bool = true)
    /// The decode worker could not load the KV.
    case transferFailed(reason: String)
    /// The decode worker produced the first token; `decodeSeconds` is the step as it measured it.
    case firstToken(decodeSeconds: Double)

    /// A short name for logs and errors.
    public var name: String {
        switch self {
        case .prefillStarted: "prefill started"
        case .prefillDone: "prefill done"
        case .pushDone: "push done"
        case .reserved: "reserved"
        case .transferDone: "transfer done"
        case .transferFailed: "transfer failed"
        case .firstToken: "first token"
        }
    }

    /// The role that may send this report.
    public var sender: WorkerRole {
        switch self {
        case .prefillStarted, .prefillDone, .pushDone: .prefill
        case .reserved, .transferDone, .transferFailed, .firstToken: .decode
        }
    }
}
