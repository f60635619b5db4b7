import HandoffCore

/// Why a data-plane call failed. Every case carries what a user needs to find the cause.
public enum DataPlaneError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A peer's descriptor could not be decoded.
    case invalidDescriptor(WireFormatError)
    /// The descriptor decoded but cannot be used with this transport (another transport, memory type, …).
    case incompatibleDescriptor(String)
    /// This transport cannot register memory of this type in this build.
    case unsupportedMemoryType(MemoryType, transport: String)
    /// The plan was built for other layouts than the pools it is executed between.
    case layoutMismatch(String)
    /// An op reaches outside a registered region.
    case rangeOutsideRegion(side: TransferSide, region: Int, offset: Int, length: Int, regionLength: Int)
    /// The pool or peer handle is not (or no longer) known to this transport.
    case unknownHandle(String)
    /// A UCX call failed.
    case ucx(UCXError)
    /// The peer went away or its connection broke; its descriptor must be fetched again.
    case peerFailed(agent: UInt64, reason: String)
    /// The peer's serving side refused a request: a range outside its pool or outside what the grant covers, an
    /// unknown or revoked grant, a malformed request.
    case refusedByPeer(agent: UInt64, reason: String)
    /// The transfer did not complete before its deadline.
    case timedOut(after: Duration, completedOps: Int, totalOps: Int)
    /// The caller cancelled the transfer.
    case cancelled(completedOps: Int, totalOps: Int)
    /// The transport was shut down.
    case transportClosed
    /// A notification is larger than notifications may be.
    case notificationTooLarge(bytes: Int, limit: Int)
    /// The transport cannot start as configured (TLS files it cannot use, a transport that cannot meet the
    /// configuration).
    case setupFailed(String)

    public var description: String {
        switch self {
        case .invalidDescriptor(let error): "invalid pool descriptor: \(error)"
        case .incompatibleDescriptor(let reason): "incompatible pool descriptor: \(reason)"
        case .unsupportedMemoryType(let type, let transport):
            "the \(transport) transport of this build cannot register \(type.rawValue) memory"
        case .layoutMismatch(let reason): "the plan does not fit the pools: \(reason)"
        case .rangeOutsideRegion(let side, let region, let offset, let length, let regionLength):
            "\(side.rawValue) range [\(offset), \(offset &+ length)) is outside region \(region) of \(regionLength) bytes"
        case .unknownHandle(let what): "unknown handle: \(what)"
        case .ucx(let error): error.description
        case .peerFailed(let agent, let reason): "peer agent \(String(agent, radix: 16)) failed: \(reason)"
        case .refusedByPeer(let agent, let reason):
            "peer agent \(String(agent, radix: 16)) refused the request: \(reason)"
        case .timedOut(let after, let completed, let total):
            "transfer timed out after \(after) with \(completed) of \(total) ops complete"
        case .cancelled(let completed, let total): "transfer cancelled with \(completed) of \(total) ops complete"
        case .transportClosed: "the transport is shut down"
        case .notificationTooLarge(let bytes, let limit): "notification of \(bytes) bytes exceeds \(limit)"
        case .setupFailed(let reason): "the data plane cannot start: \(reason)"
        }
    }
}
