import GRPCCore
import HandoffControlProtocol
import HandoffProto

/// The handoff.v1 Coordinator gRPC service over a `Coordinator` actor: converts messages, maps errors to
/// statuses, and runs each worker session.
public struct CoordinatorService: Handoff_V1_Coordinator.SimpleServiceProtocol {
    public let coordinator: Coordinator

    public init(coordinator: Coordinator) { self.coordinator = coordinator }

    public func session(
        request: RPCAsyncSequence<Handoff_V1_WorkerMessage, any Error>,
        response: RPCWriter<Handoff_V1_CoordinatorMessage>,
        context: ServerContext
    ) async throws {
        try await WorkerSessionHandler(coordinator: coordinator, peer: context.remotePeer).run(
            request: request, response: response)
    }

    public func report(request: Handoff_V1_ProgressReport, context: ServerContext) async throws -> Handoff_V1_ReportAck
    {
        let sender = WorkerIdentity(id: request.workerID, instance: request.instance)
        do {
            let (ticket, event) = try ProgressEvent.from(proto: request)
            try await coordinator.report(event, ticket: ticket, from: sender, reportKey: request.reportKey)
        } catch let error as ProtocolError {
            throw error.rpcError
        } catch let error as CoordinatorError {
            throw error.rpcError
        }
        return Handoff_V1_ReportAck()
    }

    public func admit(request: Handoff_V1_AdmitRequest, context: ServerContext) async throws -> Handoff_V1_AdmitResponse
    {
        do {
            return try await coordinator.admit(AdmitRequest(proto: request)).proto
        } catch let error as ProtocolError {
            throw error.rpcError
        } catch let error as CoordinatorError {
            throw error.rpcError
        }
    }

    public func cancel(
        request: Handoff_V1_CancelRequest, context: ServerContext
    ) async throws -> Handoff_V1_CancelResponse {
        do {
            let cancelled = try await coordinator.cancel(requestID: request.requestID, reason: request.reason)
            return .with { $0.cancelled = cancelled }
        } catch {
            throw error.rpcError
        }
    }

    public func route(
        request: RPCAsyncSequence<Handoff_V1_RouteRequest, any Error>,
        response: RPCWriter<Handoff_V1_RouteEvent>,
        context: ServerContext
    ) async throws {
        try await RouteStreamHandler(coordinator: coordinator).run(request: request, response: response)
    }

    public func await(
        request: Handoff_V1_AwaitRequest, context: ServerContext
    ) async throws -> Handoff_V1_RequestAccount {
        let timeout: Duration
        do {
            timeout = try .fromWire(
                seconds: request.timeoutSeconds == 0 ? 600 : request.timeoutSeconds, field: "timeout")
        } catch {
            throw error.rpcError
        }
        let coordinator = self.coordinator
        let requestID = request.requestID
        let untilReserved = request.untilReserved
        let account: RequestAccount? = try await withThrowingTaskGroup(of: RequestAccount?.self) { group in
            group.addTask {
                do throws(CoordinatorError) {
                    return untilReserved
                        ? try await coordinator.reservation(of: requestID)
                        : try await coordinator.outcome(of: requestID)
                } catch {
                    throw error.rpcError
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let account else {
            let what = untilReserved ? "have its decode blocks reserved" : "finish"
            throw RPCError(code: .deadlineExceeded, message: "request \(requestID) did not \(what) within \(timeout)")
        }
        return account.proto
    }

    public func listWorkers(
        request: Handoff_V1_ListWorkersRequest, context: ServerContext
    ) async throws -> Handoff_V1_ListWorkersResponse {
        let statuses = await coordinator.workerStatuses()
        return .with { $0.workers = statuses.map(\.proto) }
    }

    public func listPairs(
        request: Handoff_V1_ListPairsRequest, context: ServerContext
    ) async throws -> Handoff_V1_ListPairsResponse {
        let pairs = await coordinator.pairStatuses()
        return .with {
            $0.pairs = pairs.map { pair in
                .with {
                    $0.prefillWorker = pair.prefill
                    $0.decodeWorker = pair.decode
                    $0.inFlight = UInt32(clamping: pair.inFlight)
                    $0.completed = UInt64(clamping: pair.completed)
                }
            }
        }
    }

    public func getAccount(
        request: Handoff_V1_GetAccountRequest, context: ServerContext
    ) async throws -> Handoff_V1_RequestAccount {
        do {
            return try await coordinator.account(of: request.requestID).proto
        } catch {
            throw error.rpcError
        }
    }

    public func getAggregates(
        request: Handoff_V1_GetAggregatesRequest, context: ServerContext
    ) async throws -> Handoff_V1_Aggregates {
        await coordinator.aggregates().proto
    }
}
