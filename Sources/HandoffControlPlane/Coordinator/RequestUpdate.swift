import HandoffControlProtocol

/// What a router watching a request hears about it: its admission, then its final account.
public enum RequestUpdate: Sendable {
    case admitted(requestID: String, Admission)
    /// The request is done, failed or expired (after every recompute attempt).
    case finished(RequestAccount)
}

/// Receives a watched request's updates, in order, on the coordinator's executor: it must only hand them off
/// (e.g. queue them on a stream's outbox), never block.
public typealias RequestWatcher = @Sendable (RequestUpdate) -> Void
