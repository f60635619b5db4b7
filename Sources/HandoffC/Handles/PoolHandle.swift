import HandoffDataPlane

/// What a `handoff_pool *` points to: a pool registered with a transport.
final class PoolHandle: Sendable {
    let transport: any Transport
    let pool: LocalPool

    init(transport: any Transport, pool: LocalPool) {
        self.transport = transport
        self.pool = pool
    }
}
