import HandoffCore

/// A data plane: registers KV pools, connects to peers' pools and moves block ranges between them.
///
/// Implementations own their threads and native resources; every method is safe to call from any task. Call
/// `shutdown()` before dropping a transport: its thread keeps it (and its registered memory) alive until then.
/// The UCX implementation is `UCXTransport`.
public protocol Transport: AnyObject, Sendable {
    /// The transport's name as it appears in descriptors and reports (`ucx`).
    var name: String { get }
    /// This instance's agent id, unique per process start; carried in every descriptor it issues.
    var agent: UInt64 { get }
    /// Notifications that peers sent to this instance, in arrival order.
    var notifications: AsyncStream<PeerNotification> { get }

    /// Allocates and registers a pool of `layout`, one region per layer, zero-filled.
    /// - Throws: `DataPlaneError` when the memory type is unsupported or registration fails.
    func allocatePool(_ layout: KVLayout, memoryType: MemoryType) async throws(DataPlaneError) -> LocalPool

    /// Registers memory the caller owns (an engine's KV tensors) as a pool; one buffer per layout region.
    /// The buffers must stay valid until `release(_:)`.
    /// - Throws: `DataPlaneError` when a buffer is smaller than the layout's region, or registration fails.
    func registerPool(
        _ layout: KVLayout, regions: [UnsafeMutableRawBufferPointer], memoryType: MemoryType
    ) async throws(DataPlaneError) -> LocalPool

    /// From now on, serves peers only the blocks of `pool` that a live grant covers, to the holder of its token.
    /// Without this call, any holder of the pool's descriptor reaches all of it.
    ///
    /// Transports whose transfers run without this side's CPU (UCX's one-sided RDMA and shared memory) cannot
    /// check a grant: there the memory registration's bounds and the secrecy of the remote key are the limit.
    /// - Throws: `DataPlaneError.unknownHandle` when the pool was released or is another transport's.
    func requireGrants(on pool: LocalPool) throws(DataPlaneError)

    /// Lets the peer presenting `grant.token` read or write `grant.blocks` of `grant.pool` until `revoke`.
    /// - Throws: `DataPlaneError.unknownHandle` for a released pool, `.layoutMismatch` for a block outside it.
    func grant(_ grant: AccessGrant) throws(DataPlaneError)

    /// Ends a grant: later requests under `token` are refused. Returns once no request under it is still being
    /// served, so its blocks can be reused. Unknown tokens are ignored.
    func revoke(_ token: UInt64) async

    /// The descriptor a peer needs to reach `pool`.
    /// - Throws: `DataPlaneError.unknownHandle` when the pool was released or is another transport's.
    func descriptor(of pool: LocalPool) throws(DataPlaneError) -> PoolDescriptor

    /// Connects to the pool a peer described. Connections are set up here, not on the first transfer.
    /// - Throws: `DataPlaneError` when the descriptor is for another transport or memory type, or the peer
    ///   cannot be reached.
    func connect(to descriptor: PoolDescriptor) async throws(DataPlaneError) -> RemotePeer

    /// Executes `plan` between `local` and `remote`: READ pulls from the remote source into the local destination,
    /// WRITE pushes the local source into the remote destination. Returns when every op completed, or throws —
    /// a transfer is never reported done unless every byte arrived. Cancelling the calling task cancels it.
    /// - Throws: `DataPlaneError` for a plan that does not fit the pools, a failed or timed-out transfer, a dead peer.
    func execute(
        _ plan: TransferPlan, _ operation: TransferOperation, local: LocalPool, remote: RemotePeer,
        options: TransferOptions
    ) async throws(DataPlaneError) -> TransferReport

    /// Sends a small message (at most `maxNotificationBytes`) to the peer. Returns once the transport has sent it;
    /// it has no deadline of its own yet, so a peer that stopped reading can hold it until `disconnect`.
    func notify(_ remote: RemotePeer, payload: [UInt8]) async throws(DataPlaneError)

    /// Closes the connection to a peer. Later calls with `remote` fail with `unknownHandle`.
    func disconnect(_ remote: RemotePeer) async

    /// Deregisters a pool (and frees it when the transport allocated it).
    func release(_ pool: LocalPool) async

    /// Disconnects every peer, releases every pool and stops the transport's threads. Idempotent.
    func shutdown() async
}

/// The largest notification payload, in bytes.
public let maxNotificationBytes = 4096

/// Notifications a transport keeps for its user to read; past it, new ones are refused (native TCP) or dropped
/// (UCX, whose active messages have no answer), so a peer's flood cannot grow memory without bound.
public let maxQueuedNotifications = 4096
