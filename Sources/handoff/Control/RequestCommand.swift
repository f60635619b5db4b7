import ArgumentParser
import Foundation
import GRPCNIOTransportHTTP2
import HandoffClient
import HandoffControlPlane
import HandoffControlProtocol
import HandoffProto
import SwiftProtobuf

/// `handoff request`: admits requests at a coordinator as a router would and waits for their accounts.
struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Admit requests at a coordinator and print each one's account (one JSON object per line).",
        discussion: """
            Pairs a prefill and a decode worker of --model per request, retrying while no pair has room, then waits \
            for the request to end. Exits 1 when a request did not finish done and verified. For smoke tests of a \
            deployment and for engines embedding Handoff (the Python package's tests). The token comes from \
            --token-file or $HANDOFF_TOKEN.
            """)

    @Option(help: "The coordinator's HOST:PORT, or its cluster's HOST:PORT,HOST:PORT,... (the leader is found).")
    var coordinator: String
    @Option(help: "The model the workers registered.") var model: String
    @Option(help: "Prompt tokens of each request.") var promptTokens = 100
    @Option(help: "Requests to send.") var count = 1
    @Option(help: "Requests in flight at once.") var concurrency = 1
    @Option(help: "Request ids are PREFIX-N.") var idPrefix = "request"
    @Option(help: "What a failed KV load does: fail or recompute.") var policy = "fail"
    @Option(help: "How the KV moves: pull (decode reads it after prefill) or push (prefill writes it while computing).")
    var mode = "pull"
    @Option(help: "File holding the bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @OptionGroup(title: "TLS") var tls: TLSOptions

    func validate() throws {
        guard promptTokens > 0, promptTokens <= 1 << 20 else {
            throw ValidationError("--prompt-tokens must be 1 to 2^20")
        }
        guard count > 0, count <= 1_000_000 else { throw ValidationError("--count must be 1 to 10^6") }
        guard concurrency > 0, concurrency <= 1024 else { throw ValidationError("--concurrency must be 1 to 1024") }
        guard LoadFailurePolicy(rawValue: policy) != nil else {
            throw ValidationError("--policy must be fail or recompute")
        }
        guard TransferMode(rawValue: mode) != nil else { throw ValidationError("--mode must be pull or push") }
    }

    func run() async throws {
        let address = try CoordinatorAddress(
            parsing: coordinator, token: try BearerToken.load(file: tokenFile), tls: try tls.files(forServer: false))
        let policy = LoadFailurePolicy(rawValue: policy)!
        let mode = TransferMode(rawValue: mode)!
        let (model, tokens, prefix, count, concurrency) = (model, promptTokens, idPrefix, count, concurrency)
        let failed = try await withCoordinatorConnection(address) { connection in
            try await withThrowingTaskGroup(of: DemoDriver.RequestResult.self) { group in
                var failed = 0
                var next = 0
                func send() {
                    let id = "\(prefix)-\(next)"
                    next += 1
                    group.addTask {
                        await DemoDriver.drive(
                            connection: connection, id: id, model: model, tokens: tokens, policy: policy, mode: mode)
                    }
                }
                while next < min(concurrency, count) { send() }
                while let result = try await group.next() {
                    if !Self.print(result) { failed += 1 }
                    if next < count { send() }
                }
                return failed
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// The line of a request that has no account to show.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    // Its fields are the JSON keys of an account line.
    private struct Failure: Encodable {
        var request_id: String
        var state: String
        var failure: String
    }

    /// Prints a request's account (or why it has none) as one JSON line; whether it ended done and verified.
    private static func print(_ result: DemoDriver.RequestResult) -> Bool {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let line: String
        if let account = result.account, let json = try? account.jsonString(options: options) {
            line = json
        } else {
            let failure = Failure(request_id: result.id, state: "failed", failure: result.failure)
            line = (try? JSONEncoder().encode(failure)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))  // unbuffered: callers read line by line
        return result.account != nil
    }
}
