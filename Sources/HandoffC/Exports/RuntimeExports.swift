// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The exported functions carry the C API's names (handoff.h), which are snake_case.

import CHandoff
import Foundation
import HandoffClient
import HandoffConnector
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane

// The connector runtime: an engine joins the coordinator, reads its instructions as events and answers them.

@_cdecl("handoff_runtime_start")
public func handoff_runtime_start(
    _ options: UnsafePointer<handoff_runtime_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
    _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        guard let options = options?.pointee else { throw .invalidArgument("NULL runtime options") }
        guard let out else { throw .invalidArgument("a NULL out handle") }
        let configuration = try runtimeConfiguration(options)
        let memory = CallerMemory(try engineMemory(options))
        let logger = LibraryLogger.make("handoff.connector")
        let result = blockingResult { () async throws(ConnectorError) -> ConnectorRuntime in
            try await ConnectorRuntime.start(configuration, memory: memory.value, logger: logger)
        }
        out.pointee = OpaqueHandle.retain(RuntimeHandle(runtime: try result.mapError(CFailure.init).get()))
        return HANDOFF_OK
    }
}

/// The runtime's configuration from C options.
private func runtimeConfiguration(_ options: handoff_runtime_options) throws(CFailure) -> ConnectorConfiguration {
    guard let id = cString(options.id), !id.isEmpty else { throw .invalidArgument("the runtime options name no id") }
    let role: WorkerRole =
        switch options.role {
        case UInt32(HANDOFF_PREFILL.rawValue): .prefill
        case UInt32(HANDOFF_DECODE.rawValue): .decode
        default: throw .invalidArgument("role \(options.role) is neither HANDOFF_PREFILL nor HANDOFF_DECODE")
        }
    guard let coordinatorText = cString(options.coordinator) else {
        throw .invalidArgument("the runtime options name no coordinator")
    }
    let token: BearerToken
    let coordinator: CoordinatorAddress
    do {
        token =
            try cString(options.token).map { try BearerToken($0) }
            ?? BearerToken.load(file: cString(options.token_file))
        coordinator = try CoordinatorAddress(
            parsing: coordinatorText, token: token, tls: try TLSFiles.fromEnvironment()?.validated(forServer: false))
    } catch {
        throw .invalidArgument("\(error)")
    }
    var configuration = ConnectorConfiguration(
        id: id, role: role, layout: try KVLayoutSpec(options.layout), coordinator: coordinator)
    let transport = try CTransportOptions(options.transport)
    configuration.transport = transport.selection
    configuration.tcpListenHost = transport.tcp.listenHost
    configuration.tcpAdvertisedHosts = transport.tcp.advertisedHosts
    configuration.ucxTransports = transport.ucxTransports
    configuration.node = cString(options.node) ?? ""
    configuration.rack = cString(options.rack) ?? ""
    configuration.endpoint = cString(options.endpoint) ?? ""
    if options.max_concurrent_pulls > 0 { configuration.maxConcurrentPulls = Int(options.max_concurrent_pulls) }
    return configuration
}

/// The engine's buffers, or `.allocate` when it passed none.
private func engineMemory(_ options: handoff_runtime_options) throws(CFailure) -> ConnectorMemory {
    guard options.buffer_count > 0 else { return .allocate }
    guard options.buffer_count <= 1 << 16, let buffers = options.buffers, let lengths = options.buffer_lengths else {
        throw .invalidArgument("\(options.buffer_count) buffers, or NULL buffers or lengths")
    }
    var regions: [UnsafeMutableRawBufferPointer] = []
    for index in 0..<options.buffer_count {
        guard let address = buffers[index] else { throw .invalidArgument("buffer \(index) is NULL") }
        regions.append(UnsafeMutableRawBufferPointer(start: address, count: try cInt(lengths[index], "buffer length")))
    }
    return .engine(regions)
}

@_cdecl("handoff_runtime_next_event")
public func handoff_runtime_next_event(
    _ runtime: OpaquePointer?, _ timeoutMilliseconds: Int64,
    _ event: UnsafeMutablePointer<UnsafeMutablePointer<handoff_event>?>?,
    _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(runtime, as: RuntimeHandle.self)
        guard let event else { throw .invalidArgument("a NULL out event") }
        event.pointee = nil
        if let next = nextEvent(handle.runtime, timeoutMilliseconds: timeoutMilliseconds) {
            event.pointee = CEvent.make(next)
            return HANDOFF_OK
        }
        guard handle.runtime.hasStopped else { return HANDOFF_PENDING }
        if let last = handle.runtime.pollEvent() {  // queued between the wait and the stop
            event.pointee = CEvent.make(last)
            return HANDOFF_OK
        }
        throw CFailure(HANDOFF_E_CLOSED, handle.waitUntilStopped())
    }
}

/// The next event, waiting up to `timeoutMilliseconds` (0: not at all; negative: until one comes or the runtime
/// stops).
private func nextEvent(_ runtime: ConnectorRuntime, timeoutMilliseconds: Int64) -> ConnectorEvent? {
    if timeoutMilliseconds == 0 { return runtime.pollEvent() }
    if timeoutMilliseconds > 0 { return runtime.waitEvent(timeout: .milliseconds(timeoutMilliseconds)) }
    while true {
        if let event = runtime.waitEvent(timeout: .seconds(3600)) { return event }
        if runtime.hasStopped { return nil }
    }
}

@_cdecl("handoff_runtime_event_fd")
public func handoff_runtime_event_fd(_ runtime: OpaquePointer?) -> Int32 {
    (try? OpaqueHandle.borrow(runtime, as: RuntimeHandle.self).runtime.eventFileDescriptor) ?? -1
}

@_cdecl("handoff_event_free")
public func handoff_event_free(_ event: UnsafeMutablePointer<handoff_event>?) {
    if let event { CEvent.free(event) }
}

@_cdecl("handoff_runtime_prefill_started")
public func handoff_runtime_prefill_started(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        try refusal { () throws(ConnectorError) in try runtime.prefillStarted(ticket: ticket) }
    }
}

@_cdecl("handoff_runtime_prefill_done")
public func handoff_runtime_prefill_done(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ blocks: UnsafePointer<Int64>?, _ count: Int,
    _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        let ids = try cBlocks(blocks, count, "blocks")
        try refusal { () throws(ConnectorError) in try runtime.prefillDone(ticket: ticket, blocks: ids) }
    }
}

@_cdecl("handoff_runtime_reserved")
public func handoff_runtime_reserved(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ blocks: UnsafePointer<Int64>?, _ count: Int,
    _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        let ids = try cBlocks(blocks, count, "blocks")
        try refusal { () throws(ConnectorError) in try runtime.reserved(ticket: ticket, blocks: ids) }
    }
}

@_cdecl("handoff_runtime_reserved_after_prefix")
public func handoff_runtime_reserved_after_prefix(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ cachedBlocks: UInt32, _ blocks: UnsafePointer<Int64>?,
    _ count: Int, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        let ids = try cBlocks(blocks, count, "blocks")
        try refusal { () throws(ConnectorError) in
            try runtime.reserved(ticket: ticket, blocks: ids, cachedBlocks: Int(cachedBlocks))
        }
    }
}

@_cdecl("handoff_runtime_reserve_failed")
public func handoff_runtime_reserve_failed(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ reason: UnsafePointer<CChar>?, _ error: CErrorOut
) -> handoff_status {
    let reason = cString(reason) ?? "no reason given"
    return answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        try refusal { () throws(ConnectorError) in try runtime.reserveFailed(ticket: ticket, reason: reason) }
    }
}

@_cdecl("handoff_runtime_transfer_done")
public func handoff_runtime_transfer_done(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ verified: Int32, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        try refusal { () throws(ConnectorError) in
            try runtime.transferDone(ticket: ticket, verified: verified > 0, checked: verified >= 0)
        }
    }
}

@_cdecl("handoff_runtime_first_token")
public func handoff_runtime_first_token(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ decodeSeconds: Double, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        try refusal { () throws(ConnectorError) in try runtime.firstToken(ticket: ticket, decodeSeconds: decodeSeconds)
        }
    }
}

@_cdecl("handoff_runtime_push_layers")
public func handoff_runtime_push_layers(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ blocks: UnsafePointer<Int64>?, _ count: Int,
    _ lastLayer: UInt32, _ started: UnsafeMutablePointer<Int32>?, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        let ids = try cBlocks(blocks, count, "blocks")
        guard let started else { throw .invalidArgument("a NULL started") }
        var began = false
        try refusal { () throws(ConnectorError) in
            began = try runtime.pushLayers(ticket: ticket, blocks: ids, through: Int(lastLayer))
        }
        started.pointee = began ? 1 : 0
    }
}

@_cdecl("handoff_runtime_finish_push")
public func handoff_runtime_finish_push(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ blocks: UnsafePointer<Int64>?, _ count: Int,
    _ pushed: UnsafeMutablePointer<Int32>?, _ error: CErrorOut
) -> handoff_status {
    answer(runtime, ticket, error) { runtime, ticket throws(CFailure) in
        let ids = try cBlocks(blocks, count, "blocks")
        guard let pushed else { throw .invalidArgument("a NULL pushed") }
        let result = blockingResult { () async throws(ConnectorError) -> Bool in
            try await runtime.finishPush(ticket: ticket, blocks: ids)
        }
        switch result {
        case .success(let done): pushed.pointee = done ? 1 : 0
        case .failure(let error): throw CFailure(error)
        }
    }
}

/// Runs one of the engine's answers on the runtime behind `runtime`.
private func answer(
    _ runtime: OpaquePointer?, _ ticket: UnsafePointer<CChar>?, _ error: CErrorOut,
    _ body: (ConnectorRuntime, String) throws(CFailure) -> Void
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(runtime, as: RuntimeHandle.self)
        guard let ticket = cString(ticket) else { throw .invalidArgument("a NULL ticket") }
        try body(handle.runtime, ticket)
        return HANDOFF_OK
    }
}

/// The runtime's refusal of an answer as a C failure.
private func refusal(_ body: () throws(ConnectorError) -> Void) throws(CFailure) {
    do throws(ConnectorError) {
        try body()
    } catch {
        throw CFailure(error)
    }
}

@_cdecl("handoff_runtime_set_load")
public func handoff_runtime_set_load(_ runtime: OpaquePointer?, _ freeBlocks: UInt64, _ queueDepth: UInt64) {
    guard let handle = try? OpaqueHandle.borrow(runtime, as: RuntimeHandle.self) else { return }
    handle.runtime.updateLoad(
        WorkerLoad(freeBlocks: Int(clamping: freeBlocks), queueDepth: Int(clamping: queueDepth)))
}

@_cdecl("handoff_runtime_layout")
public func handoff_runtime_layout(_ runtime: OpaquePointer?, _ out: UnsafeMutablePointer<handoff_layout>?) {
    guard let handle = try? OpaqueHandle.borrow(runtime, as: RuntimeHandle.self), let out else { return }
    out.pointee = handle.runtime.pool.layout.cLayout
}

@_cdecl("handoff_runtime_region")
public func handoff_runtime_region(
    _ runtime: OpaquePointer?, _ index: UInt32, _ address: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ length: UnsafeMutablePointer<UInt64>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(runtime, as: RuntimeHandle.self)
        try region(of: handle.runtime.pool, index: index, address: address, length: length)
        return HANDOFF_OK
    }
}

@_cdecl("handoff_runtime_close")
public func handoff_runtime_close(_ runtime: OpaquePointer?) {
    (try? OpaqueHandle.borrow(runtime, as: RuntimeHandle.self))?.runtime.close()
}

@_cdecl("handoff_runtime_destroy")
public func handoff_runtime_destroy(_ runtime: OpaquePointer?) {
    OpaqueHandle.take(runtime, as: RuntimeHandle.self)?.closeDiscardingEvents()
}
