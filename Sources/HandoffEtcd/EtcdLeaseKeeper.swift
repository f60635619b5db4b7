import HandoffCore
import Synchronization

/// Renews etcd leases over one `LeaseKeepAlive` stream, reopening it when it fails.
///
/// `renew` never waits: renewals asked for while the stream is down, or while `maxQueued` wait for a stalled
/// one, are dropped, and the owner of each lease asks again on its next tick, so a lease is lost only when etcd
/// stays unreachable for its whole TTL.
public final class EtcdLeaseKeeper: Sendable {
    /// Renewals that may wait for the stream.
    public static let maxQueued = 65_536
    private let outbox = Mutex<BatchingOutbox<Int64>?>(nil)

    public init() {}

    /// Asks etcd to renew lease `id`.
    public func renew(_ id: Int64) {
        guard let renewals = outbox.withLock({ $0 }), renewals.queuedCount < Self.maxQueued else { return }
        renewals.send(id)
    }

    /// Keeps the stream open until the task is cancelled, reporting each answer (lease, remaining TTL in seconds,
    /// 0 when the lease no longer exists) to `answered`, and each failure of the stream to `failed`.
    public func run(
        _ etcd: EtcdClient, answered: @escaping @Sendable (_ lease: Int64, _ ttlSeconds: Int64) -> Void,
        failed: @escaping @Sendable (EtcdError) -> Void = { _ in }
    ) async {
        while !Task.isCancelled {
            let renewals = BatchingOutbox<Int64>()
            outbox.withLock { $0 = renewals }
            do {
                try await etcd.keepLeasesAlive(renewals, answered: answered)
            } catch {
                if !Task.isCancelled { failed(error) }
            }
            renewals.finish()
            outbox.withLock { $0 = nil }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
