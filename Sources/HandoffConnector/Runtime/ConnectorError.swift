import HandoffCore
import HandoffDataPlane

/// Why the connector runtime refused an engine's answer or could not start.
public enum ConnectorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The runtime has no ticket of that id in the state the answer needs: it was never sent, was released
    /// (the engine frees its blocks), or was already answered.
    case unknownTicket(String, expected: String)
    /// The answer's blocks do not fit the ticket or the pool.
    case invalidBlocks(ticket: String, reason: String)
    /// A value the engine passed is out of range.
    case invalidArgument(String)
    /// The engine's KV memory or layout cannot be registered.
    case registration(String)
    /// The data plane refused (grant, transport start).
    case dataPlane(DataPlaneError)
    /// The runtime was closed.
    case closed

    public var description: String {
        switch self {
        case .unknownTicket(let ticket, let expected):
            "ticket \(ticket) is not \(expected) (released, answered, or never sent)"
        case .invalidBlocks(let ticket, let reason): "ticket \(ticket): \(reason)"
        case .invalidArgument(let reason): reason
        case .registration(let reason): "cannot register the engine's KV: \(reason)"
        case .dataPlane(let error): "data plane: \(error)"
        case .closed: "the connector runtime is closed"
        }
    }
}
