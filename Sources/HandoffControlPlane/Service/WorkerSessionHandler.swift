import GRPCCore
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Runs one worker's Session stream: the first message registers the worker; later messages are heartbeats and
/// reports; instructions from the coordinator are written back in order. Refused reports come back on the
/// stream as `rejected` without ending it. When the stream ends, the worker is taken out of service.
struct WorkerSessionHandler {
    let coordinator: Coordinator
    let peer: String

    func run(
        request: RPCAsyncSequence<Handoff_V1_WorkerMessage, any Error>,
        response: RPCWriter<Handoff_V1_CoordinatorMessage>
    ) async throws {
        let outbox = BatchingOutbox<WorkerInstruction>()
        let coordinator = self.coordinator
        let peer = self.peer
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while let batch = await outbox.nextBatch() {
                    try await response.write(contentsOf: batch.map(\.proto))
                }
            }
            group.addTask {
                var identity: WorkerIdentity?
                do {
                    for try await message in request {
                        if let identity {
                            await Self.handle(message, from: identity, coordinator: coordinator, outbox: outbox)
                        } else {
                            identity = try await Self.register(message, coordinator: coordinator, outbox: outbox)
                        }
                    }
                    if let identity {
                        await coordinator.sessionEnded(
                            identity, reason: "the worker closed its session", graceful: true)
                    }
                } catch {
                    if let identity {
                        await coordinator.sessionEnded(identity, reason: "session from \(peer) broke: \(error)")
                    }
                    // The error ends the call, and cancelling the writer ends it. Finishing the outbox here would let
                    // the writer end first, cleanly, and a refused registration would end with OK.
                    throw error
                }
                outbox.finish()
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The first message must be a valid Register.
    private static func register(
        _ message: Handoff_V1_WorkerMessage, coordinator: Coordinator, outbox: BatchingOutbox<WorkerInstruction>
    ) async throws -> WorkerIdentity {
        guard case .register(let register)? = message.kind else {
            throw RPCError(code: .invalidArgument, message: "the first message of a session must be Register")
        }
        do {
            let registration = try WorkerRegistration(proto: register)
            try await coordinator.register(registration, outbox: outbox)
            return registration.identity
        } catch let error as ProtocolError {
            throw error.rpcError
        } catch let error as CoordinatorError {
            throw error.rpcError
        }
    }

    private static func handle(
        _ message: Handoff_V1_WorkerMessage, from identity: WorkerIdentity, coordinator: Coordinator,
        outbox: BatchingOutbox<WorkerInstruction>
    ) async {
        switch message.kind {
        case .heartbeat(let heartbeat):
            await coordinator.heartbeat(
                identity, freeBlocks: Int(heartbeat.freeBlocks), queueDepth: Int(heartbeat.queueDepth))
        case .report(let report):
            do {
                let (ticket, event) = try ProgressEvent.from(proto: report)
                do {
                    try await coordinator.report(event, ticket: ticket, from: identity)
                } catch {
                    outbox.send(
                        .rejected(ticket: ticket, code: error.rpcError.code.rawValue, message: error.description))
                }
            } catch {
                outbox.send(
                    .rejected(ticket: "", code: RPCError.Code.invalidArgument.rawValue, message: error.description))
            }
        case .register:
            outbox.send(
                .rejected(
                    ticket: "", code: RPCError.Code.failedPrecondition.rawValue,
                    message: "already registered on this session"))
        case nil:
            outbox.send(
                .rejected(ticket: "", code: RPCError.Code.invalidArgument.rawValue, message: "message without a kind"))
        }
    }
}
