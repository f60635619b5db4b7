import HandoffDataPlane

/// What a `handoff_pool *` points to: a pool registered with a transport.
final class PoolHandle: Sendable {
    let owner: TransportHandle
    let pool: LocalPool

    var transport: any Transport { owner.transport }

    init(owner: TransportHandle, pool: LocalPool) {
        self.owner = owner
        self.pool = pool
    }

    /// The pool behind `handle`, while its transport runs.
    /// - Throws: `HANDOFF_E_INVALID_ARGUMENT` for NULL, `HANDOFF_E_CLOSED` once the transport was destroyed (the
    ///   pool's memory went with it).
    static func borrowOpen(_ handle: OpaquePointer?) throws(CFailure) -> PoolHandle {
        let pool = try OpaqueHandle.borrow(handle, as: PoolHandle.self)
        try pool.owner.requireOpen("pool")
        return pool
    }
}
