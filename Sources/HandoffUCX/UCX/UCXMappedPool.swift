import CUCX
import HandoffCore
import HandoffDataPlane

/// A pool's regions as mapped by `ucp_mem_map`: the memory handles and the packed remote keys peers need.
final class UCXMappedPool {
    let pool: LocalPool
    let memoryHandles: [ucp_mem_h]
    let packedKeys: [[UInt8]]
    /// Transfers using the pool's memory right now; a released pool is unmapped when this reaches zero.
    var transfersInFlight = 0
    /// `release` was asked for while transfers were still using the memory.
    var releasePending = false

    private init(pool: LocalPool, memoryHandles: [ucp_mem_h], packedKeys: [[UInt8]]) {
        self.pool = pool
        self.memoryHandles = memoryHandles
        self.packedKeys = packedKeys
    }

    /// Maps one region per layout region: allocated by UCX when `buffers` is nil (so that shared-memory peers can
    /// map it directly), else registered from the caller's buffers.
    static func map(
        context: ucp_context_h, id: UInt64, layout: KVLayout, memoryType: MemoryType,
        buffers: [UnsafeMutableRawBufferPointer]?
    ) throws(DataPlaneError) -> UCXMappedPool {
        var handles: [ucp_mem_h] = []
        var regions: [(address: UInt, length: Int)] = []
        var keys: [[UInt8]] = []
        do throws(DataPlaneError) {
            for index in 0..<layout.regionCount {
                let buffer = buffers?[index]
                let (handle, address, length) = try mapRegion(
                    context: context, length: layout.regionBytes, buffer: buffer)
                handles.append(handle)
                if buffer == nil {
                    UnsafeMutableRawPointer(bitPattern: address)!.initializeMemory(
                        as: UInt8.self, repeating: 0, count: length)
                }
                regions.append((address, length))
                keys.append(try packKey(context: context, handle: handle, region: index))
            }
        } catch {
            for handle in handles { ucp_mem_unmap(context, handle) }
            throw error
        }
        let pool = LocalPool(id: id, layout: layout, memoryType: memoryType, regions: regions)
        return UCXMappedPool(pool: pool, memoryHandles: handles, packedKeys: keys)
    }

    private static func mapRegion(
        context: ucp_context_h, length: Int, buffer: UnsafeMutableRawBufferPointer?
    ) throws(DataPlaneError) -> (ucp_mem_h, UInt, Int) {
        var params = ucp_mem_map_params_t()
        params.field_mask = UInt64(
            UCP_MEM_MAP_PARAM_FIELD_ADDRESS.rawValue | UCP_MEM_MAP_PARAM_FIELD_LENGTH.rawValue
                | UCP_MEM_MAP_PARAM_FIELD_FLAGS.rawValue)
        params.address = buffer?.baseAddress
        params.length = buffer?.count ?? length
        params.flags = buffer == nil ? UInt32(UCP_MEM_MAP_ALLOCATE) : 0
        var handle: ucp_mem_h?
        let what = buffer == nil ? "allocate" : "register"
        try ucxCheck(ucp_mem_map(context, &params, &handle), "ucp_mem_map(\(what) \(params.length) bytes)")
        guard let handle else { throw .ucx(UCXError(operation: "ucp_mem_map", status: UCS_ERR_NO_MEMORY)) }
        var attributes = ucp_mem_attr_t()
        attributes.field_mask = UInt64(UCP_MEM_ATTR_FIELD_ADDRESS.rawValue | UCP_MEM_ATTR_FIELD_LENGTH.rawValue)
        let status = ucp_mem_query(handle, &attributes)
        guard status == UCS_OK, let address = attributes.address, attributes.length >= length else {
            ucp_mem_unmap(context, handle)
            throw .ucx(UCXError(operation: "ucp_mem_query", status: status == UCS_OK ? UCS_ERR_NO_MEMORY : status))
        }
        return (handle, UInt(bitPattern: address), length)
    }

    private static func packKey(
        context: ucp_context_h, handle: ucp_mem_h, region: Int
    ) throws(DataPlaneError) -> [UInt8] {
        var buffer: UnsafeMutableRawPointer?
        var size = 0
        try ucxCheck(ucp_rkey_pack(context, handle, &buffer, &size), "ucp_rkey_pack(region \(region))")
        defer { ucp_rkey_buffer_release(buffer) }
        return Array(UnsafeRawBufferPointer(start: buffer, count: size))
    }

    private var isUnmapped = false

    /// Deregisters (and, when UCX allocated them, frees) the regions. Idempotent.
    func unmap(context: ucp_context_h) {
        guard !isUnmapped else { return }
        isUnmapped = true
        for handle in memoryHandles { ucp_mem_unmap(context, handle) }
    }

    /// Unmaps now if no transfer uses the memory, else once the last one ends.
    func release(context: ucp_context_h) {
        if transfersInFlight == 0 { unmap(context: context) } else { releasePending = true }
    }

    /// Called when a transfer no longer touches the memory.
    func transferEnded(context: ucp_context_h) {
        transfersInFlight -= 1
        if transfersInFlight == 0 && releasePending { unmap(context: context) }
    }
}
