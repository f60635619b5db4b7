import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane

extension SimulatedEngine {
    func reserve(ticket: String, blocks count: Int) {
        guard let reserved = allocator.allocate(count, for: ticket) else {
            let error = KVConnectorError.noFreeBlocks(needed: count, free: allocator.freeCount)
            try? runtime.reserveFailed(ticket: ticket, reason: error.description)
            return
        }
        do {
            try runtime.reserved(ticket: ticket, blocks: reserved)
        } catch {
            logger.warning("reservation refused; blocks freed", metadata: ["ticket": "\(ticket)", "error": "\(error)"])
            free(ticket)
        }
    }

    /// Checks every pulled block against the request's content and answers the runtime; returns whether the KV
    /// is good and generation may begin.
    func verify(_ order: PullOrder) -> Bool {
        let content = RequestContent(contentSeed: order.contentSeed)
        let mismatch = content.firstMismatch(blocks: order.destinationBlocks, in: pool)
        if let mismatch {
            let error = KVConnectorError.contentMismatch(
                ticket: order.ticket, layer: mismatch.layer, kind: mismatch.kind, tokenBlock: mismatch.tokenBlock)
            logger.error("\(error)")
        }
        do {
            try runtime.transferDone(ticket: order.ticket, verified: mismatch == nil)
        } catch {
            logger.warning("transfer answer refused", metadata: ["ticket": "\(order.ticket)", "error": "\(error)"])
            return false
        }
        if mismatch != nil { free(order.ticket) }
        return mismatch == nil
    }

    /// The first decode step, then the rest of the generation holding the blocks.
    func generate(_ ticket: String) async {
        let start = ContinuousClock.now
        try? await Task.sleep(for: configuration.decodeStep)
        try? runtime.firstToken(ticket: ticket, decodeSeconds: (ContinuousClock.now - start).seconds)
        try? await Task.sleep(for: configuration.decodeHold)
        free(ticket)
    }
}
