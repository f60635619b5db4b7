import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane

/// The decode side of a ticket: pulls the prefill blocks into the reserved blocks through the data plane.
public struct KVPuller: Sendable {
    public let transport: any Transport
    public let pool: LocalPool
    public let peers: KVPeerTable

    public init(transport: any Transport, pool: LocalPool, peers: KVPeerTable) {
        self.transport = transport
        self.pool = pool
        self.peers = peers
    }

    /// Moves `order.sourceBlocks` of the source pool into `order.destinationBlocks` with one READ plan.
    ///
    /// - Throws: `KVConnectorError.peerGone`, a `PlanError` for blocks outside either pool, or the data plane's
    ///   error (timeout, peer failure).
    public func pull(_ order: PullOrder, window: Int = 128) async throws -> TransferStats {
        let peer = try await peers.connection(to: order.source, descriptor: order.sourceDescriptor)
        let plan = try TransferPlan(
            sourceBlocks: order.sourceBlocks, destinationBlocks: order.destinationBlocks,
            source: peer.descriptor.layout,
            destination: pool.layout)
        let report = try await transport.execute(
            plan, .read, local: pool, remote: peer,
            options: TransferOptions(maxOutstandingOps: window, timeout: order.timeout, grant: order.sourceGrant))
        return TransferStats(report)
    }
}
