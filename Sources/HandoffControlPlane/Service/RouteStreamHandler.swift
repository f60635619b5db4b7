import GRPCCore
import HandoffCore
import HandoffProto
import Synchronization

/// Runs one router's Route stream: admits each request it sends and streams back `admitted` or `refused`, then
/// `finished` with the account when the request ends. Events for one request keep their order and are written in
/// batches. When the router half-closes, the stream ends after its last request has finished; when the router
/// goes away, its requests run on and their accounts stay queryable.
struct RouteStreamHandler {
    let coordinator: Coordinator

    func run(
        request: RPCAsyncSequence<Handoff_V1_RouteRequest, any Error>,
        response: RPCWriter<Handoff_V1_RouteEvent>
    ) async throws {
        let outbox = RouteOutbox()
        let coordinator = self.coordinator
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while let batch = await outbox.events.nextBatch() {
                    try await response.write(contentsOf: batch.map(\.proto))
                }
            }
            group.addTask {
                let watcher: RequestWatcher = { update in outbox.send(.update(update)) }
                do {
                    for try await message in request {
                        guard case let .admit(admit)? = message.kind else {
                            outbox.send(.refused(requestID: "", .invalidArgument, "route request without a kind"))
                            continue
                        }
                        do {
                            _ = try await coordinator.admit(AdmitRequest(proto: admit), watcher: watcher)
                        } catch let error as ProtocolError {
                            outbox.send(.refused(requestID: admit.requestID, .invalidArgument, error.message))
                        } catch let error as CoordinatorError {
                            outbox.send(.refused(requestID: admit.requestID, error.rpcError.code, error.description))
                        }
                    }
                } catch {
                    outbox.events.finish()
                    throw error
                }
                outbox.inputEnded()
            }
            try await group.waitForAll()
        }
    }
}

/// A Route stream's outgoing events, and when to end it: once the router has half-closed and every request it
/// got admitted has finished.
private final class RouteOutbox: Sendable {
    let events = BatchingOutbox<RouteEvent>()
    private let progress = Mutex((unfinished: 0, inputEnded: false))

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

    func inputEnded() {
        let done = progress.withLock { progress in
            progress.inputEnded = true
            return progress.unfinished == 0
        }
        if done { events.finish() }
    }
}

/// One event for the router, converted to the wire by the writer (off the coordinator's executor).
private enum RouteEvent: Sendable {
    case update(RequestUpdate)
    case refused(requestID: String, RPCError.Code, String)

    var proto: Handoff_V1_RouteEvent {
        switch self {
        case let .update(.admitted(requestID, admission)):
            .with {
                $0.requestID = requestID
                $0.admitted = admission.proto
            }
        case let .update(.finished(account)):
            .with {
                $0.requestID = account.requestID
                $0.finished = account.proto
            }
        case let .refused(requestID, code, message):
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
