import GRPCCore
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import ServiceLifecycle

/// Runs one router's Route stream: admits each request it sends and streams back `admitted` or `refused`, then
/// `finished` with the account when the request ends. Events for one request keep their order and are written in
/// batches. When the router half-closes, or the coordinator begins a graceful shutdown, the stream stops taking
/// admissions and ends after its last admitted request has finished; when the router goes away, its requests run
/// on and their accounts stay queryable. A router that stops reading its events is no longer read from once
/// `RouteOutbox.maxQueuedEvents` wait for it.
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
                do {
                    try await Self.admitAll(request, coordinator: coordinator, outbox: outbox)
                    outbox.inputEnded()
                } catch {
                    outbox.events.finish()
                }
            }
            // The writer ends when the outbox does; then nothing more can be admitted on this stream.
            defer { group.cancelAll() }
            do {
                while let batch = await outbox.events.nextBatch() {
                    try await response.write(contentsOf: batch.map(\.proto))
                }
            } catch {
                outbox.events.finish()
                throw error
            }
        }
    }

    /// Admits every request the router sends until it half-closes or a graceful shutdown begins.
    private static func admitAll(
        _ request: RPCAsyncSequence<Handoff_V1_RouteRequest, any Error>, coordinator: Coordinator, outbox: RouteOutbox
    ) async throws {
        let watcher: RequestWatcher = { update in outbox.send(.update(update)) }
        for try await message in request.cancelOnGracefulShutdown() {
            await outbox.events.waitForRoom(below: RouteOutbox.maxQueuedEvents)
            guard case .admit(let admit)? = message.kind else {
                outbox.send(.refused(requestID: "", code: .invalidArgument, message: "route request without a kind"))
                continue
            }
            do {
                _ = try await coordinator.admit(AdmitRequest(proto: admit), watcher: watcher)
            } catch let error as ProtocolError {
                outbox.send(.refused(requestID: admit.requestID, code: error.rpcError.code, message: error.message))
            } catch let error as CoordinatorError {
                outbox.send(.refused(requestID: admit.requestID, code: error.rpcError.code, message: error.description))
            }
        }
    }
}
