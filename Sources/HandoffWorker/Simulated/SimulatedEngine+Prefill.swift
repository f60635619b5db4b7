import HandoffConnector
import HandoffControlProtocol
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
        computing.insert(order.ticket)
        defer {
            computing.remove(order.ticket)
            queued -= 1
            publishLoad()
        }
        guard cancelled.remove(order.ticket) == nil else { return }
        let span = OrderSpan.start("handoff.engine.prefill", under: order.traceparent)
        span?.attributes["handoff.ticket"] = order.ticket
        span?.attributes["handoff.prompt_tokens"] = order.promptTokens
        span?.attributes["handoff.blocks"] = order.blocks
        defer { span?.end() }
        try? runtime.prefillStarted(ticket: order.ticket)
        var allocated = allocator.allocate(order.blocks, for: order.ticket)
        while allocated == nil {
            // The coordinator counts free blocks, so this wait is short; the ticket's deadline bounds it.
            try? await Task.sleep(for: .milliseconds(5))
            if Task.isCancelled || cancelled.remove(order.ticket) != nil { return }
            allocated = allocator.allocate(order.blocks, for: order.ticket)
        }
        guard let allocated else { return }
        let content = RequestContent(contentSeed: order.contentSeed)
        let layers = pool.layout.regionCount
        let total = Double(order.promptTokens) / configuration.prefillTokensPerSecond
        let start = ContinuousClock.now
        for layer in 0..<layers {
            content.write(layer: layer, blocks: allocated, into: pool)
            let due = start + .seconds(total * Double(layer + 1) / Double(layers))
            if due > .now { try? await Task.sleep(until: due) }
            if cancelled.remove(order.ticket) != nil {
                free(order.ticket)
                return
            }
        }
        do {
            try runtime.prefillDone(ticket: order.ticket, blocks: allocated)
        } catch {
            logger.warning(
                "prefill answer refused; blocks freed", metadata: ["ticket": "\(order.ticket)", "error": "\(error)"])
            free(order.ticket)
        }
    }
}
