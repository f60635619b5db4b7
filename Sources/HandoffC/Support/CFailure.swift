import CHandoff
import Glibc
import HandoffConnector
import HandoffCore
import HandoffDataPlane

/// A failure on its way to a C caller: the status the call returns and the message it hands out.
struct CFailure: Error {
    var status: handoff_status
    var message: String

    init(_ status: handoff_status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func invalidArgument(_ message: String) -> CFailure { CFailure(HANDOFF_E_INVALID_ARGUMENT, message) }

    init(_ error: DataPlaneError) {
        let status: handoff_status =
            switch error {
            case .invalidDescriptor, .incompatibleDescriptor: HANDOFF_E_DESCRIPTOR
            case .layoutMismatch, .rangeOutsideRegion: HANDOFF_E_LAYOUT
            case .unknownHandle: HANDOFF_E_UNKNOWN
            case .peerFailed, .refusedByPeer: HANDOFF_E_PEER
            case .timedOut: HANDOFF_E_TIMED_OUT
            case .cancelled: HANDOFF_E_CANCELLED
            case .transportClosed: HANDOFF_E_CLOSED
            case .notificationTooLarge: HANDOFF_E_INVALID_ARGUMENT
            case .unsupportedMemoryType, .ucx, .setupFailed: HANDOFF_E_TRANSPORT
            }
        self.init(status, error.description)
    }

    init(_ error: ConnectorError) {
        let status: handoff_status =
            switch error {
            case .unknownTicket: HANDOFF_E_UNKNOWN
            case .invalidBlocks: HANDOFF_E_LAYOUT
            case .invalidArgument: HANDOFF_E_INVALID_ARGUMENT
            case .registration: HANDOFF_E_LAYOUT
            case .dataPlane(let error): CFailure(error).status
            case .closed: HANDOFF_E_CLOSED
            }
        self.init(status, error.description)
    }

    init(_ error: PlanError) { self.init(HANDOFF_E_LAYOUT, error.description) }

    init(_ error: KVModelError) { self.init(HANDOFF_E_LAYOUT, "\(error)") }
}

/// The `char **error` argument of the C API.
public typealias CErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

/// Runs the body of an exported function: clears `*error`, and turns a thrown `CFailure` into its status and a
/// message the caller frees with `handoff_string_free`.
func exported(_ error: CErrorOut, _ body: () throws(CFailure) -> handoff_status) -> handoff_status {
    error?.pointee = nil
    do {
        return try body()
    } catch let failure {
        error?.pointee = strdup(failure.message)
        return failure.status
    }
}
