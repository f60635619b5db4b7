import GRPCCore
import HandoffControlProtocol
import HandoffCore
import HandoffProto
import Logging
import Synchronization

/// A worker's session with the coordinator: the part an inference engine's KV connector embeds.
///
/// `run` opens the Session stream, registers, heartbeats with the engine's load, and hands every instruction to
/// the engine in order. The engine answers with `report`. One session runs at a time; after it ends (coordinator
/// restart, network), call `run` again: the worker registers anew. `close` ends it in order for a shutdown.
public final class WorkerSession: Sendable {
    public let registration: WorkerRegistration
    public let coordinator: CoordinatorAddress
    let logger: Logger
    /// The stream of the session now open, if any, and whether `close` was called.
    private let state = Mutex<(outbox: BatchingOutbox<Handoff_V1_WorkerMessage>?, closed: Bool)>((nil, false))
    /// The coordinator the next session opens with: the one that led last, among `coordinator.endpoints`.
    private let target: Mutex<HostPort>

    public init(
        registration: WorkerRegistration, coordinator: CoordinatorAddress,
        logger: Logger = Logger(label: "handoff.worker")
    ) {
        self.registration = registration
        self.coordinator = coordinator
        self.logger = logger
        target = Mutex(coordinator.endpoint)
    }

    /// Runs one session until the coordinator ends it.
    ///
    /// - Parameters:
    ///   - load: the engine's current load, read for every heartbeat.
    ///   - handle: called for each instruction, in order; it should hand long work off rather than block.
    /// - Throws: the coordinator's `RPCError` when it refuses the registration, or a transport error.
    public func run(
        load: @escaping @Sendable () async -> WorkerLoad,
        handle: @escaping @Sendable (WorkerInstruction) async -> Void
    ) async throws {
        let messages = BatchingOutbox<Handoff_V1_WorkerMessage>()
        messages.send(.with { $0.register = registration.proto })
        let closed = state.withLock { state in
            if !state.closed { state.outbox = messages }
            return state.closed
        }
        if closed { return }
        defer {
            messages.finish()
            state.withLock { $0.outbox = nil }
        }
        let logger = self.logger
        try await withCoordinatorClient(coordinator, at: target.withLock { $0 }) { client in
            let request = StreamingClientRequest(of: Handoff_V1_WorkerMessage.self) { writer in
                while let batch = await messages.nextBatch() { try await writer.write(contentsOf: batch) }
            }
            try await client.session(request: request) { response in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for try await message in response.messages {
                        let instruction: WorkerInstruction
                        do {
                            instruction = try WorkerInstruction(proto: message)
                        } catch {
                            logger.warning("ignoring a malformed instruction: \(error)")
                            continue
                        }
                        if case .registered(let interval, _) = instruction {
                            group.addTask {
                                while !Task.isCancelled {
                                    let current = await load()
                                    messages.send(
                                        .with {
                                            $0.heartbeat = .with {
                                                $0.freeBlocks = UInt32(clamping: current.freeBlocks)
                                                $0.queueDepth = UInt32(clamping: current.queueDepth)
                                            }
                                        })
                                    try await Task.sleep(for: interval)
                                }
                            }
                        }
                        await handle(instruction)
                    }
                    messages.finish()
                    group.cancelAll()
                }
            }
        }
    }

    /// Runs sessions one after another until `close` or cancellation: after the coordinator ends a session or it
    /// fails, registers again with back-off (100 ms, doubling to 2 s). With several coordinator addresses (a
    /// cluster), a follower's refusal sends the next session to the leader it names at once, and a coordinator
    /// that cannot be reached to the next address after 50 ms.
    ///
    /// - Parameters:
    ///   - load: the engine's current load, read for every heartbeat.
    ///   - handle: called for each instruction, in order.
    ///   - sessionEnded: called after each session ends, before the next one opens: what the coordinator knew of
    ///     this worker's tickets is gone with it.
    /// - Throws: the coordinator's `RPCError` when it refuses the registration (invalid argument, unauthenticated,
    ///   permission denied): registering again cannot help.
    public func runReconnecting(
        load: @escaping @Sendable () async -> WorkerLoad,
        handle: @escaping @Sendable (WorkerInstruction) async -> Void,
        sessionEnded: @escaping @Sendable () async -> Void = {}
    ) async throws {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled && !isClosed {
            var wait = backoff
            do {
                try await run(load: load, handle: handle)
                await sessionEnded()
                if isClosed { return }
                logger.warning("session ended by the coordinator; reconnecting")
                backoff = .milliseconds(100)
                wait = backoff
            } catch let error as RPCError
                where [.invalidArgument, .unauthenticated, .permissionDenied].contains(error.code)
            {
                await sessionEnded()
                throw error
            } catch {
                await sessionEnded()
                if Task.isCancelled || isClosed { return }
                var search = LeaderSearch(
                    endpoints: coordinator.endpoints, start: target.withLock { $0 }, timeout: nil)
                if let delay = search.retry(after: error) {
                    target.withLock { $0 = search.target }
                    logger.info("looking for the coordinators' leader at \(search.target): \(error)")
                    wait = delay
                } else {
                    logger.warning("session failed: \(error); retrying in \(backoff)")
                }
            }
            try await Task.sleep(for: wait)
            if wait == backoff { backoff = min(backoff * 2, .seconds(2)) }
        }
    }

    /// Sends a progress report on the open session; returns false when no session is open.
    @discardableResult
    public func report(_ event: ProgressEvent, ticket: String) -> Bool {
        let message = Handoff_V1_WorkerMessage.with { $0.report = event.proto(ticket: ticket) }
        return state.withLock { $0.outbox?.send(message) ?? false }
    }

    /// Ends the session in order, for a shutdown: closes the stream to the coordinator, which takes the worker
    /// out of service as an orderly end and closes its side, so `run` returns. Later `run`s return at once.
    public func close() {
        state.withLock { state in
            state.closed = true
            state.outbox?.finish()
        }
    }

    /// Whether `close` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }
}
