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
        holds[order.ticket]?.until = .now + order.lease
        session.report(.prefillDone(sourceBlocks: blocks), ticket: order.ticket)
    }
}
