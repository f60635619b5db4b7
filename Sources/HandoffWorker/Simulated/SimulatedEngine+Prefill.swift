import HandoffControlPlane
import HandoffDataPlane

extension SimulatedEngine {
    /// Computes prefill orders one at a time, as one GPU would.
    func prefillLoop() async {
        for await order in prefillQueue {
            if Task.isCancelled { return }
            await compute(order)
        }
    }

    private func compute(_ order: PrefillOrder) async {
        defer { queued -= 1 }
        if cancelled.remove(order.ticket) != nil { return }
        session.report(.prefillStarted, ticket: order.ticket)
        var blocks = allocator.allocate(order.blocks)
        while blocks == nil {
            // The coordinator counts free blocks, so this wait is short; the ticket's deadline bounds it.
            try? await Task.sleep(for: .milliseconds(5))
            if Task.isCancelled || cancelled.remove(order.ticket) != nil { return }
            blocks = allocator.allocate(order.blocks)
        }
        guard let blocks else { return }
        holds[order.ticket] = Hold(blocks: blocks, until: nil)
        let content = RequestContent(contentSeed: order.contentSeed)
        let layers = pool.layout.regionCount
        let total = Double(order.promptTokens) / configuration.prefillTokensPerSecond
        let start = ContinuousClock.now
        for layer in 0..<layers {
            content.write(layer: layer, blocks: blocks, into: pool)
            let due = start + .seconds(total * Double(layer + 1) / Double(layers))
            if due > .now { try? await Task.sleep(until: due) }
        }
        guard holds[order.ticket] != nil else { return }  // released while computing
        let grant = AccessGrant(pool: pool, operation: .read, blocks: blocks)
        do {
            try puller.transport.grant(grant)
        } catch {
            logger.error("cannot grant the source blocks", metadata: ["ticket": "\(order.ticket)", "error": "\(error)"])
            return  // the ticket fails on its prefill deadline; its blocks go with the release
        }
        holds[order.ticket]?.until = .now + order.lease
        holds[order.ticket]?.grant = grant.token
        session.report(.prefillDone(sourceBlocks: blocks, grant: grant.token), ticket: order.ticket)
    }
}
