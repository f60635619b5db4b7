import HandoffDataPlane

/// What a `handoff_transport *` points to: a running data plane.
final class TransportHandle: Sendable {
    let transport: any Transport

    init(transport: any Transport) { self.transport = transport }
}
