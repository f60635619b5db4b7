import CHandoff
import Glibc
import HandoffConnector

/// `handoff_event`s made from `ConnectorEvent`s: one calloc'd struct, its strings strdup'd and its block lists
/// malloc'd, all freed by `free(_:)`.
enum CEvent {
    static func make(_ event: ConnectorEvent) -> UnsafeMutablePointer<handoff_event> {
        let pointer = calloc(1, MemoryLayout<handoff_event>.stride)!.assumingMemoryBound(to: handoff_event.self)
        var out = handoff_event()
        var reason = ""
        var requestID = ""
        switch event {
        case .registered(let instance):
            out.kind = UInt32(HANDOFF_EVENT_REGISTERED.rawValue)
            out.instance = instance
        case .prefill(let order):
            out.kind = UInt32(HANDOFF_EVENT_PREFILL.rawValue)
            requestID = order.requestID
            out.prompt_tokens = UInt64(clamping: order.promptTokens)
            out.block_count = UInt64(clamping: order.blocks)
            out.content_seed = order.contentSeed
            out.lease_seconds = order.lease.seconds
        case .reserve(_, let blocks):
            out.kind = UInt32(HANDOFF_EVENT_RESERVE.rawValue)
            out.block_count = UInt64(clamping: blocks)
        case .loaded(let order, let stats):
            out.kind = UInt32(HANDOFF_EVENT_LOADED.rawValue)
            out.prompt_tokens = UInt64(clamping: order.promptTokens)
            out.block_count = UInt64(min(order.sourceBlocks.count, order.destinationBlocks.count))
            out.source_blocks = UnsafePointer(copy(order.sourceBlocks))
            out.destination_blocks = UnsafePointer(copy(order.destinationBlocks))
            out.content_seed = order.contentSeed
            out.report = handoff_report(stats)
        case .loadFailed(_, let why, _):
            out.kind = UInt32(HANDOFF_EVENT_LOAD_FAILED.rawValue)
            reason = why
        case .release(_, let why):
            out.kind = UInt32(HANDOFF_EVENT_RELEASE.rawValue)
            reason = why
        }
        out.ticket = UnsafePointer(strdup(event.ticket ?? ""))
        out.request_id = UnsafePointer(strdup(requestID))
        out.reason = UnsafePointer(strdup(reason))
        out.traceparent = UnsafePointer(strdup(event.traceparent))
        pointer.initialize(to: out)
        return pointer
    }

    static func free(_ event: UnsafeMutablePointer<handoff_event>) {
        for text in [event.pointee.ticket, event.pointee.request_id, event.pointee.reason, event.pointee.traceparent] {
            Glibc.free(UnsafeMutableRawPointer(mutating: text))
        }
        Glibc.free(UnsafeMutableRawPointer(mutating: event.pointee.source_blocks))
        Glibc.free(UnsafeMutableRawPointer(mutating: event.pointee.destination_blocks))
        Glibc.free(event)
    }

    private static func copy(_ blocks: [Int]) -> UnsafeMutablePointer<Int64> {
        let pointer = malloc(max(1, blocks.count) * MemoryLayout<Int64>.stride)!.assumingMemoryBound(to: Int64.self)
        for (index, block) in blocks.enumerated() { pointer[index] = Int64(block) }
        return pointer
    }
}
