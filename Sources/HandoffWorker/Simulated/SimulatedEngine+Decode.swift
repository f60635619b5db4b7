import HandoffControlPlane
import HandoffDataPlane

extension SimulatedEngine {
    func reserve(ticket: String, blocks count: Int) {
        guard let blocks = allocator.allocate(count) else {
            session.report(
                .transferFailed(reason: KVConnectorError.noFreeBlocks(needed: count, free: allocator.freeCount).description),
                ticket: ticket)
            return
        }
        reserved[ticket] = blocks
        session.report(.reserved(destinationBlocks: blocks), ticket: ticket)
    }

    /// Pulls one ticket at a time; the first decode step of each runs beside the next pull.
    func pullLoop() async {
        await withDiscardingTaskGroup { group in
            for await order in pullQueue {
                if Task.isCancelled { return }
                if await pullAndVerify(order) {
                    group.addTask { await self.firstDecodeStep(order.ticket) }
                }
            }
        }
    }

    /// Pulls and verifies; reports transfer done or failed. Returns whether the KV is loaded.
    ///
    /// A release while the pull runs cancels it (the coordinator has given up on the ticket, e.g. its prefill
    /// worker died): the reserved blocks are freed once the data plane has stopped writing into them, and nothing
    /// is reported.
    private func pullAndVerify(_ order: PullOrder) async -> Bool {
        defer { queued -= 1 }
        guard reserved[order.ticket] != nil else { return false }  // released before its turn
        let puller = self.puller
        let transfer = Task { try await puller.pull(order) }
        pulling[order.ticket] = transfer
        let outcome = await withTaskCancellationHandler { await transfer.result } onCancel: { transfer.cancel() }
        pulling[order.ticket] = nil
        if releasedWhilePulling.remove(order.ticket) != nil {
            if let blocks = reserved.removeValue(forKey: order.ticket) { allocator.release(blocks) }
            logger.info("pull cancelled: the ticket was released", metadata: ["ticket": "\(order.ticket)"])
            return false
        }
        do {
            let stats = try outcome.get()
            let content = RequestContent(contentSeed: order.contentSeed)
            if let mismatch = content.firstMismatch(blocks: order.destinationBlocks, in: pool) {
                let error = KVConnectorError.contentMismatch(
                    ticket: order.ticket, layer: mismatch.layer, kind: mismatch.kind, tokenBlock: mismatch.tokenBlock)
                logger.error("\(error)")
                session.report(.transferDone(stats, verified: false), ticket: order.ticket)
                return false
            }
            guard let blocks = reserved.removeValue(forKey: order.ticket) else { return false }
            holds[order.ticket] = Hold(blocks: blocks, until: .now + configuration.decodeStep + configuration.decodeHold)
            session.report(.transferDone(stats, verified: true), ticket: order.ticket)
            return true
        } catch {
            logger.warning("pull failed", metadata: ["ticket": "\(order.ticket)", "error": "\(error)"])
            session.report(.transferFailed(reason: "\(error)"), ticket: order.ticket)
            return false
        }
    }

    private func firstDecodeStep(_ ticket: String) async {
        let start = ContinuousClock.now
        try? await Task.sleep(for: configuration.decodeStep)
        let elapsed = ContinuousClock.now - start
        session.report(.firstToken(decodeSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18), ticket: ticket)
    }
}
