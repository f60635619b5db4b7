import HandoffControlProtocol

/// Why the worker side could not carry out an instruction.
public enum KVConnectorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The source instance was announced down; its descriptor and keys are void.
    case peerGone(WorkerIdentity)
    /// Not enough free blocks for a reservation or a prefill.
    case noFreeBlocks(needed: Int, free: Int)
    /// The pull names destination blocks other than the ones reserved for the ticket.
    case unreservedDestination(ticket: String)
    /// A block's content is not what the prefill side wrote.
    case contentMismatch(ticket: String, layer: Int, kind: Int, tokenBlock: Int)

    public var description: String {
        switch self {
        case .peerGone(let identity): "source \(identity) is gone; its keys are no longer used"
        case .noFreeBlocks(let needed, let free): "need \(needed) free blocks, have \(free)"
        case .unreservedDestination(let ticket):
            "ticket \(ticket): the pull's destination blocks are not the reserved ones"
        case .contentMismatch(let ticket, let layer, let kind, let block):
            "ticket \(ticket): block \(block) of layer \(layer) (kind \(kind)) does not hold the prefill's content"
        }
    }
}
