// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The exported functions carry the C API's names (handoff.h), which are snake_case.

import CHandoff
import Glibc
import HandoffCore
import HandoffDataPlane
import HandoffUCX
import Logging

// The bare data plane: transports, pools, peers. Transfers are in TransferExports.swift.

@_cdecl("handoff_transport_create")
public func handoff_transport_create(
    _ options: UnsafePointer<handoff_transport_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
    _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        guard let out else { throw .invalidArgument("a NULL out handle") }
        let options = try CTransportOptions(options)
        do throws(DataPlaneError) {
            let transport = try options.selection.make(
                ucxTransports: options.ucxTransports, tcp: options.tcp, logger: LibraryLogger.make("handoff.dataplane"))
            out.pointee = OpaqueHandle.retain(TransportHandle(transport: transport))
        } catch {
            throw CFailure(error)
        }
        return HANDOFF_OK
    }
}

@_cdecl("handoff_transport_destroy")
public func handoff_transport_destroy(_ handle: OpaquePointer?) {
    guard let handle = OpaqueHandle.take(handle, as: TransportHandle.self) else { return }
    handle.markDestroyed()
    runBlocking { await handle.transport.shutdown() }
}

@_cdecl("handoff_pool_register")
public func handoff_pool_register(
    _ transport: OpaquePointer?, _ layout: UnsafePointer<handoff_layout>?,
    _ regions: UnsafePointer<UnsafeMutableRawPointer?>?, _ lengths: UnsafePointer<UInt64>?, _ regionCount: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(transport, as: TransportHandle.self)
        guard let out else { throw .invalidArgument("a NULL out handle") }
        let layout = try KVLayout(layout)
        guard regionCount == layout.regionCount, let regions, let lengths else {
            throw .invalidArgument("\(regionCount) regions for a layout of \(layout.regionCount) layers")
        }
        var buffers: [UnsafeMutableRawBufferPointer] = []
        for index in 0..<regionCount {
            let length = try cInt(lengths[index], "length")
            guard let address = regions[index], length >= layout.regionBytes else {
                throw CFailure(
                    HANDOFF_E_LAYOUT, "region \(index) holds \(length) bytes; the layout needs \(layout.regionBytes)")
            }
            buffers.append(UnsafeMutableRawBufferPointer(start: address, count: length))
        }
        let transport = handle.transport
        let regionBuffers = CallerMemory(buffers)
        let result = blockingResult { () async throws(DataPlaneError) -> LocalPool in
            try await transport.registerPool(layout, regions: regionBuffers.value, memoryType: .host)
        }
        out.pointee = OpaqueHandle.retain(
            PoolHandle(owner: handle, pool: try result.mapError(CFailure.init).get()))
        return HANDOFF_OK
    }
}

@_cdecl("handoff_pool_allocate")
public func handoff_pool_allocate(
    _ transport: OpaquePointer?, _ layout: UnsafePointer<handoff_layout>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
    _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(transport, as: TransportHandle.self)
        guard let out else { throw .invalidArgument("a NULL out handle") }
        let layout = try KVLayout(layout)
        let transport = handle.transport
        let result = blockingResult { () async throws(DataPlaneError) -> LocalPool in
            try await transport.allocatePool(layout, memoryType: .host)
        }
        out.pointee = OpaqueHandle.retain(
            PoolHandle(owner: handle, pool: try result.mapError(CFailure.init).get()))
        return HANDOFF_OK
    }
}

@_cdecl("handoff_pool_region")
public func handoff_pool_region(
    _ pool: OpaquePointer?, _ index: UInt32, _ address: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ length: UnsafeMutablePointer<UInt64>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try PoolHandle.borrowOpen(pool)
        try region(of: handle.pool, index: index, address: address, length: length)
        return HANDOFF_OK
    }
}

/// Writes the address and length of `pool`'s region `index` to C.
func region(
    of pool: LocalPool, index: UInt32, address: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    length: UnsafeMutablePointer<UInt64>?
) throws(CFailure) {
    guard Int(index) < pool.regions.count else {
        throw .invalidArgument("region \(index) of a pool of \(pool.regions.count)")
    }
    let region = pool.regions[Int(index)]
    address?.pointee = UnsafeMutableRawPointer(bitPattern: region.address)
    length?.pointee = UInt64(region.length)
}

@_cdecl("handoff_pool_descriptor")
public func handoff_pool_descriptor(
    _ pool: OpaquePointer?, _ bytes: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    _ length: UnsafeMutablePointer<Int>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try PoolHandle.borrowOpen(pool)
        guard let bytes, let length else { throw .invalidArgument("a NULL out pointer") }
        let encoded: [UInt8]
        do throws(DataPlaneError) {
            encoded = try handle.transport.descriptor(of: handle.pool).encoded()
        } catch {
            throw CFailure(error)
        }
        guard let copy = malloc(max(encoded.count, 1))?.assumingMemoryBound(to: UInt8.self) else {
            throw CFailure(HANDOFF_E_TRANSPORT, "out of memory")
        }
        encoded.withUnsafeBufferPointer { copy.update(from: $0.baseAddress!, count: encoded.count) }
        bytes.pointee = copy
        length.pointee = encoded.count
        return HANDOFF_OK
    }
}

@_cdecl("handoff_pool_require_grants")
public func handoff_pool_require_grants(_ pool: OpaquePointer?, _ error: CErrorOut) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try PoolHandle.borrowOpen(pool)
        do throws(DataPlaneError) {
            try handle.transport.requireGrants(on: handle.pool)
        } catch {
            throw CFailure(error)
        }
        return HANDOFF_OK
    }
}

@_cdecl("handoff_pool_grant")
public func handoff_pool_grant(
    _ pool: OpaquePointer?, _ operation: handoff_operation, _ blocks: UnsafePointer<Int64>?, _ count: Int,
    _ token: UnsafeMutablePointer<UInt64>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try PoolHandle.borrowOpen(pool)
        guard let token else { throw .invalidArgument("a NULL out token") }
        let grant = AccessGrant(
            pool: handle.pool, operation: try TransferOperation(operation), blocks: try cBlocks(blocks, count, "blocks")
        )
        do throws(DataPlaneError) {
            try handle.transport.grant(grant)
        } catch {
            throw CFailure(error)
        }
        token.pointee = grant.token
        return HANDOFF_OK
    }
}

@_cdecl("handoff_pool_revoke")
public func handoff_pool_revoke(_ pool: OpaquePointer?, _ token: UInt64) {
    guard let handle = try? PoolHandle.borrowOpen(pool) else { return }
    let transport = handle.transport
    runBlocking { await transport.revoke(token) }
}

@_cdecl("handoff_pool_release")
public func handoff_pool_release(_ pool: OpaquePointer?) {
    guard let handle = OpaqueHandle.take(pool, as: PoolHandle.self) else { return }
    runBlocking { await handle.transport.release(handle.pool) }
}

@_cdecl("handoff_peer_connect")
public func handoff_peer_connect(
    _ transport: OpaquePointer?, _ descriptor: UnsafePointer<UInt8>?, _ length: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        let handle = try OpaqueHandle.borrow(transport, as: TransportHandle.self)
        guard let out else { throw .invalidArgument("a NULL out handle") }
        guard let descriptor, length > 0, length <= 1 << 20 else {
            throw .invalidArgument("a descriptor of \(length) bytes")
        }
        let bytes = Array(UnsafeBufferPointer(start: descriptor, count: length))
        let transport = handle.transport
        let result = blockingResult { () async throws(DataPlaneError) -> RemotePeer in
            try await transport.connect(to: PoolDescriptor(decoding: bytes))
        }
        out.pointee = OpaqueHandle.retain(
            PeerHandle(owner: handle, peer: try result.mapError(CFailure.init).get()))
        return HANDOFF_OK
    }
}

@_cdecl("handoff_peer_layout")
public func handoff_peer_layout(_ peer: OpaquePointer?, _ out: UnsafeMutablePointer<handoff_layout>?) {
    guard let handle = try? PeerHandle.borrowOpen(peer), let out else { return }
    out.pointee = handle.peer.descriptor.layout.cLayout
}

@_cdecl("handoff_peer_disconnect")
public func handoff_peer_disconnect(_ peer: OpaquePointer?) {
    guard let handle = OpaqueHandle.take(peer, as: PeerHandle.self) else { return }
    runBlocking { await handle.transport.disconnect(handle.peer) }
}
