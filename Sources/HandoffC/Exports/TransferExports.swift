// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The exported functions carry the C API's names (handoff.h), which are snake_case.

import CHandoff
import HandoffCore
import HandoffDataPlane

// Transfers between a local pool and a connected peer: started at once, then polled, waited for or signalled.

@_cdecl("handoff_transfer_blocks")
public func handoff_transfer_blocks(
    _ peer: OpaquePointer?, _ local: OpaquePointer?, _ operation: handoff_operation,
    _ sourceBlocks: UnsafePointer<Int64>?, _ destinationBlocks: UnsafePointer<Int64>?, _ count: Int,
    _ options: UnsafePointer<handoff_transfer_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
    _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let (peer, pool, operation) = try transferEnds(peer, local, operation)
        let (source, destination) = layouts(peer: peer, pool: pool, operation)
        let sources = try cBlocks(sourceBlocks, count, "source blocks")
        let destinations = try cBlocks(destinationBlocks, count, "destination blocks")
        let plan: TransferPlan
        do throws(PlanError) {
            plan = try TransferPlan(
                sourceBlocks: sources, destinationBlocks: destinations, source: source, destination: destination)
        } catch {
            throw CFailure(error)
        }
        try startTransfer(plan, operation, peer: peer, pool: pool, options: options, out: out)
        return HANDOFF_OK
    }
}

@_cdecl("handoff_transfer_ranges")
public func handoff_transfer_ranges(
    _ peer: OpaquePointer?, _ local: OpaquePointer?, _ operation: handoff_operation,
    _ ranges: UnsafePointer<handoff_range>?, _ count: Int, _ options: UnsafePointer<handoff_transfer_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let (peer, pool, operation) = try transferEnds(peer, local, operation)
        guard count > 0, count <= TransferPlan.maxRanges, let ranges else {
            throw .invalidArgument("\(count) ranges (1 to \(TransferPlan.maxRanges), not NULL)")
        }
        var ops: [CopyOp] = []
        ops.reserveCapacity(count)
        for range in UnsafeBufferPointer(start: ranges, count: count) {
            ops.append(
                CopyOp(
                    sourceRegion: Int(range.source_region),
                    sourceOffset: try cInt(range.source_offset, "source_offset"),
                    destinationRegion: Int(range.destination_region),
                    destinationOffset: try cInt(range.destination_offset, "destination_offset"),
                    length: try cInt(range.length, "length")))
        }
        let (source, destination) = layouts(peer: peer, pool: pool, operation)
        let plan: TransferPlan
        do throws(PlanError) {
            plan = try TransferPlan(ranges: ops, source: source, destination: destination)
        } catch {
            throw CFailure(error)
        }
        try startTransfer(plan, operation, peer: peer, pool: pool, options: options, out: out)
        return HANDOFF_OK
    }
}

@_cdecl("handoff_transfer_poll")
public func handoff_transfer_poll(_ transfer: OpaquePointer?, _ error: CErrorOut) -> handoff_status {
    exported(error) { () throws(CFailure) in
        try status(of: try OpaqueHandle.borrow(transfer, as: TransferHandle.self).result)
    }
}

@_cdecl("handoff_transfer_wait")
public func handoff_transfer_wait(
    _ transfer: OpaquePointer?, _ timeoutMilliseconds: Int64, _ error: CErrorOut
)
    -> handoff_status
{
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(transfer, as: TransferHandle.self)
        return try status(of: handle.wait(milliseconds: timeoutMilliseconds))
    }
}

@_cdecl("handoff_transfer_fd")
public func handoff_transfer_fd(_ transfer: OpaquePointer?) -> Int32 {
    (try? OpaqueHandle.borrow(transfer, as: TransferHandle.self).fileDescriptor) ?? -1
}

@_cdecl("handoff_transfer_cancel")
public func handoff_transfer_cancel(_ transfer: OpaquePointer?) {
    (try? OpaqueHandle.borrow(transfer, as: TransferHandle.self))?.cancel()
}

@_cdecl("handoff_transfer_report")
public func handoff_transfer_report(
    _ transfer: OpaquePointer?, _ out: UnsafeMutablePointer<handoff_report>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(transfer, as: TransferHandle.self)
        guard let out else { throw .invalidArgument("a NULL out report") }
        switch handle.result {
        case nil: throw CFailure(HANDOFF_PENDING, "the transfer is still running")
        case .failure(let error): throw CFailure(error)
        case .success(let report): out.pointee = handoff_report(report)
        }
        return HANDOFF_OK
    }
}

@_cdecl("handoff_transfer_destroy")
public func handoff_transfer_destroy(_ transfer: OpaquePointer?) {
    guard let handle = OpaqueHandle.take(transfer, as: TransferHandle.self) else { return }
    handle.cancel()
    _ = handle.wait(milliseconds: -1)
}

/// The peer, the local pool and the operation of a transfer request.
private func transferEnds(
    _ peer: OpaquePointer?, _ local: OpaquePointer?, _ operation: handoff_operation
)
    throws(CFailure) -> (PeerHandle, PoolHandle, TransferOperation)
{
    let peer = try PeerHandle.borrowOpen(peer)
    let pool = try PoolHandle.borrowOpen(local)
    guard peer.transport === pool.transport else {
        throw .invalidArgument("the peer and the pool belong to different transports")
    }
    return (peer, pool, try TransferOperation(operation))
}

/// The source and destination layouts: a READ pulls from the peer, a WRITE pushes to it.
private func layouts(peer: PeerHandle, pool: PoolHandle, _ operation: TransferOperation) -> (KVLayout, KVLayout) {
    let remote = peer.peer.descriptor.layout
    return operation == .read ? (remote, pool.pool.layout) : (pool.pool.layout, remote)
}

private func startTransfer(
    _ plan: TransferPlan, _ operation: TransferOperation, peer: PeerHandle, pool: PoolHandle,
    options: UnsafePointer<handoff_transfer_options>?, out: UnsafeMutablePointer<OpaquePointer?>?
) throws(CFailure) {
    guard let out else { throw .invalidArgument("a NULL out handle") }
    var transferOptions = TransferOptions()
    if let options = options?.pointee {
        if options.max_outstanding_ops > 0 { transferOptions.maxOutstandingOps = Int(options.max_outstanding_ops) }
        if options.timeout_ms > 0 {
            transferOptions.timeout = .milliseconds(Int64(clamping: min(options.timeout_ms, 86_400_000)))
        }
        transferOptions.grant = options.grant
    }
    let (transport, local, remote) = (pool.transport, pool.pool, peer.peer)
    let handle = try TransferHandle { [transferOptions] () throws(DataPlaneError) -> TransferReport in
        try await transport.execute(plan, operation, local: local, remote: remote, options: transferOptions)
    }
    out.pointee = OpaqueHandle.retain(handle)
}

/// A transfer's result as a C status: pending, done, or its error.
private func status(of result: Result<TransferReport, DataPlaneError>?) throws(CFailure) -> handoff_status {
    switch result {
    case nil: return HANDOFF_PENDING
    case .success: return HANDOFF_OK
    case .failure(let error): throw CFailure(error)
    }
}
