import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Drives request lifecycles against a coordinator like a router, keeping a fixed number in flight.
struct ControlPlaneLoad {
    /// How the router talks to the coordinator.
    enum API: String, CaseIterable, ExpressibleByArgument {
        /// Route streams: admits and outcomes ride long-lived streams.
        case route
        /// One unary Admit and one unary Await per request.
        case unary
    }

    /// What one run measured.
    struct Result {
        var seconds: Double
        /// Admit sent → final account received, per lifecycle, microseconds.
        var latencyMicroseconds: [Double]
        var failures: Int
    }

    let client: Handoff_V1_Coordinator.Client<HTTP2ClientTransport.Posix>
    let api: API
    let concurrency: Int
    let routers: Int
    let model: String
    let promptTokens: UInt32

    /// Runs `count` lifecycles with ids `prefix-0`, `prefix-1`, ….
    func run(count: Int, prefix: String) async throws -> Result {
        let next = LifecycleCounter()
        let start = ContinuousClock.now
        let parts = try await withThrowingTaskGroup(of: Result.self) { group in
            switch api {
            case .unary:
                for _ in 0..<concurrency {
                    group.addTask { try await unaryRouter(next, count: count, prefix: prefix) }
                }
            case .route:
                let streams = max(1, min(routers, concurrency))
                for index in 0..<streams {
                    let window = concurrency / streams + (index < concurrency % streams ? 1 : 0)
                    group.addTask { try await routeStream(next, window: window, count: count, prefix: prefix) }
                }
            }
            var merged = Result(seconds: 0, latencyMicroseconds: [], failures: 0)
            for try await part in group {
                merged.latencyMicroseconds += part.latencyMicroseconds
                merged.failures += part.failures
            }
            return merged
        }
        return Result(
            seconds: (ContinuousClock.now - start).seconds, latencyMicroseconds: parts.latencyMicroseconds,
            failures: parts.failures)
    }

    private func admitRequest(_ id: String) -> Handoff_V1_AdmitRequest {
        .with {
            $0.requestID = id
            $0.model = model
            $0.promptTokens = promptTokens
        }
    }

    /// One request at a time: Admit, then Await.
    private func unaryRouter(_ next: LifecycleCounter, count: Int, prefix: String) async throws -> Result {
        var result = Result(seconds: 0, latencyMicroseconds: [], failures: 0)
        while true {
            let index = next.take()
            if index >= count { break }
            let began = ContinuousClock.now
            let id = "\(prefix)-\(index)"
            _ = try await client.admit(admitRequest(id))
            let account = try await client.await(
                .with {
                    $0.requestID = id
                    $0.timeoutSeconds = 30
                })
            if account.state != "done" { result.failures += 1 }
            result.latencyMicroseconds.append((ContinuousClock.now - began).seconds * 1e6)
        }
        return result
    }

    /// One Route stream keeping `window` requests in flight: each finished request lets the next one in.
    private func routeStream(_ next: LifecycleCounter, window: Int, count: Int, prefix: String) async throws -> Result {
        let admits = BatchingOutbox<Handoff_V1_RouteRequest>()
        let request = StreamingClientRequest(of: Handoff_V1_RouteRequest.self) { writer in
            while let batch = await admits.nextBatch() { try await writer.write(contentsOf: batch) }
        }
        return try await client.route(request: request) { response in
            var result = Result(seconds: 0, latencyMicroseconds: [], failures: 0)
            var began: [String: ContinuousClock.Instant] = [:]
            func admitNext() -> Bool {
                let index = next.take()
                guard index < count else { return false }
                let id = "\(prefix)-\(index)"
                began[id] = .now
                admits.send(.with { $0.admit = admitRequest(id) })
                return true
            }
            for _ in 0..<window where !admitNext() { break }
            if began.isEmpty { admits.finish() }
            for try await event in response.messages {
                switch event.kind {
                case .admitted, nil:
                    continue
                case .finished(let account):
                    if account.state != "done" { result.failures += 1 }
                case .refused:
                    result.failures += 1
                }
                if let start = began.removeValue(forKey: event.requestID) {
                    result.latencyMicroseconds.append((ContinuousClock.now - start).seconds * 1e6)
                }
                if !admitNext() && began.isEmpty { admits.finish() }
            }
            return result
        }
    }
}
