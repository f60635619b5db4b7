import Foundation
import HandoffConnector
import HandoffControlProtocol
import Logging

/// An inference engine stand-in for `handoff bench-router`: the real connector runtime (session with the
/// coordinator, KV pool, data plane: every ticket's blocks move as with a real engine) behind an HTTP API shaped
/// like vLLM's, answering at a fixed token rate with no model, so that what a benchmark through `handoff router`
/// measures is the router and the coordinator, not the engine.
///
/// Prefill: a request carrying a ticket is answered once the coordinator's prefill order for it is in, its blocks
/// allocated and handed over (`prefillDone`). Decode: blocks are reserved when asked; a request carrying a ticket
/// streams its tokens once the KV is loaded, and the first token is reported.
actor StandinEngine {
    let runtime: ConnectorRuntime
    let logger: Logger
    private var allocator: BlockAllocator
    /// Prefill orders not yet asked for over HTTP, and HTTP requests waiting for their order, by ticket.
    private var orders: [String: PrefillOrder] = [:]
    private var orderWaiters: [String: CheckedContinuation<PrefillOrder?, Never>] = [:]
    /// Decode: tickets whose KV is loaded (nil) or failed to (the reason), and requests waiting for that.
    private var loads: [String: String?] = [:]
    private var loadWaiters: [String: CheckedContinuation<String?, Never>] = [:]

    /// How long an HTTP request waits for its ticket's order or load before it is answered with an error.
    static let ticketWait = Duration.seconds(30)

    init(runtime: ConnectorRuntime, blocks: Int, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
        allocator = BlockAllocator(capacity: blocks)
    }

    /// Answers the runtime's events until it stops.
    func run() async {
        while let event = await runtime.nextEvent() { handle(event) }
    }

    private func handle(_ event: ConnectorEvent) {
        do {
            switch event {
            case .registered: break
            case .prefill(let order):
                if let waiter = orderWaiters.removeValue(forKey: order.ticket) {
                    waiter.resume(returning: order)
                } else {
                    orders[order.ticket] = order
                }
            case .reserve(let ticket, let count):
                if let blocks = allocator.allocate(count, for: ticket) {
                    try runtime.reserved(ticket: ticket, blocks: blocks)
                } else {
                    try runtime.reserveFailed(ticket: ticket, reason: "no \(count) free blocks")
                }
            case .loaded(let order, _):
                try runtime.transferDone(ticket: order.ticket, verified: true, checked: false)
                finishLoad(order.ticket, failure: nil)
            case .loadFailed(let ticket, let reason, _):
                finishLoad(ticket, failure: reason)
            case .release(let ticket, _):
                allocator.release(ticket: ticket)
                orders[ticket] = nil
                loads[ticket] = nil
                orderWaiters.removeValue(forKey: ticket)?.resume(returning: nil)
                loadWaiters.removeValue(forKey: ticket)?.resume(returning: "the ticket was released")
            }
        } catch {
            logger.debug("answer refused", metadata: ["event": "\(event)", "error": "\(error)"])
            if let ticket = event.ticket { allocator.release(ticket: ticket) }
        }
    }

    private func finishLoad(_ ticket: String, failure: String?) {
        if let waiter = loadWaiters.removeValue(forKey: ticket) {
            waiter.resume(returning: failure)
        } else {
            loads[ticket] = failure
        }
    }

    /// Prefill for `ticket`: waits for its order, hands blocks over; nil when done, otherwise why not.
    func prefill(ticket: String) async -> String? {
        guard let order = await order(for: ticket) else { return "no prefill order for ticket \(ticket)" }
        guard let blocks = allocator.allocate(order.blocks, for: ticket) else {
            return "no \(order.blocks) free blocks"
        }
        do {
            try runtime.prefillStarted(ticket: ticket)
            try runtime.prefillDone(ticket: ticket, blocks: blocks)
            return nil
        } catch {
            allocator.release(ticket: ticket)
            return "\(error)"
        }
    }

    private func order(for ticket: String) async -> PrefillOrder? {
        if let order = orders.removeValue(forKey: ticket) { return order }
        guard orderWaiters[ticket] == nil else { return nil }
        let timeout = Task {
            try await Task.sleep(for: Self.ticketWait)
            self.expireOrderWaiter(ticket)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { orderWaiters[ticket] = $0 }
    }

    /// Decode: waits until `ticket`'s KV is loaded; nil when it is, otherwise why not.
    func awaitLoad(ticket: String) async -> String? {
        if let outcome = loads.removeValue(forKey: ticket) { return outcome }
        guard loadWaiters[ticket] == nil else { return "ticket \(ticket) is already being decoded" }
        let timeout = Task {
            try await Task.sleep(for: Self.ticketWait)
            self.expireLoadWaiter(ticket)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { loadWaiters[ticket] = $0 }
    }

    private func expireOrderWaiter(_ ticket: String) {
        orderWaiters.removeValue(forKey: ticket)?.resume(returning: nil)
    }

    private func expireLoadWaiter(_ ticket: String) {
        loadWaiters.removeValue(forKey: ticket)?.resume(returning: "the KV was not loaded in time")
    }

    /// Decode finished (or abandoned) `ticket`'s answer: its blocks are free again, as an engine frees a finished
    /// request's. Without this, 31,000-token prompts (1,938 blocks each) exhausted a million-block pool after about
    /// 540 requests and every later one failed.
    func finished(ticket: String) {
        allocator.release(ticket: ticket)
        loads[ticket] = nil
    }

    /// Decode produced the first token of `ticket`.
    func firstToken(ticket: String, seconds: Double) {
        try? runtime.firstToken(ticket: ticket, decodeSeconds: seconds)
    }
}
