import CHandoff
import HandoffDataPlane
import Synchronization

/// What a `handoff_transport *` points to: a running data plane. Its pools and peers hold it, so that once
/// `handoff_transport_destroy` has shut it down every call on them fails with `HANDOFF_E_CLOSED` instead of
/// reaching memory the transport freed.
final class TransportHandle: Sendable {
    let transport: any Transport
    private let destroyed = Atomic<Bool>(false)

    init(transport: any Transport) { self.transport = transport }

    /// Marks the transport destroyed; every later `requireOpen` throws.
    func markDestroyed() { destroyed.store(true, ordering: .releasing) }

    /// - Throws: `HANDOFF_E_CLOSED` once the transport was destroyed, naming `what` was used.
    func requireOpen(_ what: String) throws(CFailure) {
        if destroyed.load(ordering: .acquiring) {
            throw CFailure(HANDOFF_E_CLOSED, "this \(what)'s transport was destroyed")
        }
    }
}
