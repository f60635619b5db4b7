import HandoffControlProtocol

/// Where a leading coordinator keeps its worker registry so that a successor knows the fleet at once (etcd, in a
/// cluster). The coordinator calls it from its actor: every call only queues the change and returns.
public protocol WorkerRegistryStore: Sendable {
    /// A worker instance registered (or replaced an earlier instance of its id).
    func registered(_ registration: WorkerRegistration)
    /// A heartbeat came from a registered instance: its entry should stay.
    func heartbeat(_ identity: WorkerIdentity)
    /// The instance is out of service: its entry goes.
    func removed(_ identity: WorkerIdentity)
}
