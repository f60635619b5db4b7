import GRPCCore
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Synchronization

/// A Route stream's outgoing events, and when to end the stream: once the router has stopped sending and every
/// request it got admitted has finished.
final class RouteOutbox: Sendable {
    /// Events queued for a router that is not reading, past which the stream stops reading the router's admissions
    /// (HTTP/2 flow control then holds the router back) until it reads again.
    static let maxQueuedEvents = 1024

    let events = BatchingOutbox<RouteEvent>()
    private let progress = Mutex((unfinished: 0, inputEnded: false))

    /// Queues `event`, counting admissions and finished requests.
    func send(_ event: RouteEvent) {
        events.send(event)
        let done = progress.withLock { progress in
            switch event {
            case .update(.admitted): progress.unfinished += 1
            case .update(.finished): progress.unfinished -= 1
            case .refused: break
            }
            return progress.inputEnded && progress.unfinished == 0
        }
        if done { events.finish() }
    }

    /// The router will admit nothing more on this stream.
    func inputEnded() {
        let done = progress.withLock { progress in
            progress.inputEnded = true
            return progress.unfinished == 0
        }
        if done { events.finish() }
    }
}

/// One event for a router, converted to the wire by the stream's writer rather than on the coordinator's executor.
enum RouteEvent: Sendable {
    case update(RequestUpdate)
    case refused(requestID: String, code: RPCError.Code, message: String)

    var proto: Handoff_V1_RouteEvent {
        switch self {
        case .update(.admitted(let requestID, let admission)):
            .with {
                $0.requestID = requestID
                $0.admitted = admission.proto
            }
        case .update(.finished(let account)):
            .with {
                $0.requestID = account.requestID
                $0.finished = account.proto
            }
        case .refused(let requestID, let code, let message):
            .with {
                $0.requestID = requestID
                $0.refused = .with {
                    $0.code = Int32(code.rawValue)
                    $0.message = message
                }
            }
        }
    }
}
