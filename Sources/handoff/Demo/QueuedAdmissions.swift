import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HandoffClient
import HandoffControlProtocol
import HandoffCore
import HandoffProto

/// Admissions sent straight to a paused leader, over a connection that waits for it however long it is silent
/// (no pings, no greeting deadline: a client that did not follow the leader), so that they are queued in its socket
/// when it wakes up deposed. Every one must be refused: one admitted would be a second leader admitting.
struct QueuedAdmissions: Sendable {
    /// What became of them.
    struct Outcome: Sendable {
        var sent = 0
        var admitted = 0
        var refused = 0
        /// Failures other than a refusal (the connection broke, the call timed out), with the first message.
        var other = 0
        var firstOther = ""
    }

    let endpoint: HostPort
    let token: BearerToken
    let count: Int

    /// Connects to the leader and makes one call (so that the connection is up before the pause: the admissions
    /// then wait in the paused process's socket, read as soon as it wakes), says so through `connected`, waits
    /// until `sendAt`, sends `count` admissions and waits up to `timeout` for their answers.
    func send(
        model: String, connected: @escaping @Sendable () -> Void, sendAt: @escaping @Sendable () async -> Void,
        timeout: Duration
    ) async -> Outcome {
        var outcome = Outcome()
        defer { connected() }
        do {
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: endpoint.host, port: endpoint.port), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport, interceptors: [BearerTokenClientInterceptor(token: token)]) {
                client in
                let coordinator = Handoff_V1_Coordinator.Client(wrapping: client)
                _ = try await coordinator.getAggregates(Handoff_V1_GetAggregatesRequest())
                connected()
                await sendAt()
                var patient = CallOptions.defaults
                patient.timeout = timeout
                patient.waitForReady = true
                let options = patient
                let count = self.count
                let results = await withTaskGroup(of: Result<String, any Error>.self) { group in
                    for index in 0..<count {
                        group.addTask {
                            do {
                                let request = Handoff_V1_AdmitRequest.with {
                                    $0.requestID = "queued-\(index)"
                                    $0.model = model
                                    $0.promptTokens = 16
                                }
                                return .success(try await coordinator.admit(request, options: options).ticket)
                            } catch {
                                return .failure(error)
                            }
                        }
                    }
                    var all: [Result<String, any Error>] = []
                    for await result in group { all.append(result) }
                    return all
                }
                outcome.sent = results.count
                for result in results {
                    switch result {
                    case .success: outcome.admitted += 1
                    case .failure(let error as RPCError)
                    where error.code == .unavailable
                        && error.message.contains("does not lead"):
                        outcome.refused += 1
                    case .failure(let error):
                        outcome.other += 1
                        if outcome.firstOther.isEmpty { outcome.firstOther = "\(error)" }
                    }
                }
            }
        } catch {
            outcome.firstOther = "\(error)"
        }
        return outcome
    }
}
