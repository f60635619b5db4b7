/// Access to some blocks of a local pool, handed to the one peer that moves one request's KV.
///
/// The serving side issues a grant for the blocks a ticket holds (prefill: its source blocks, for the decode
/// worker to read) and sends its token through the control plane; the peer presents the token with every
/// transfer (`TransferOptions.grant`). On a pool that requires grants (`Transport.requireGrants(on:)`), a
/// transport with a serving side (TCP) serves only requests whose ranges lie inside a live grant's blocks.
public struct AccessGrant: Sendable {
    /// What the peer presents; random and never 0.
    public var token: UInt64
    /// The pool whose blocks are granted.
    public var pool: LocalPool
    /// What the peer may do: `.read` the blocks (it pulls) or `.write` them (it pushes).
    public var operation: TransferOperation
    /// Granted block ids: every region's (layer's) pieces of them.
    public var blocks: [Int]

    /// A grant of `blocks` of `pool` for `operation`, under a fresh random token unless one is given.
    public init(token: UInt64 = AccessGrant.newToken(), pool: LocalPool, operation: TransferOperation, blocks: [Int]) {
        self.token = token
        self.pool = pool
        self.operation = operation
        self.blocks = blocks
    }

    /// A fresh random token.
    public static func newToken() -> UInt64 { UInt64.random(in: 1...UInt64.max) }
}
