import ArgumentParser
import Foundation
import GRPCCore
import HandoffClient
import HandoffControlProtocol
import HandoffProto
import SwiftProtobuf

/// `handoff account`: prints the coordinator's TTFT accounts of finished requests.
struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Print the coordinator's account of each request id (one JSON object per line).",
        discussion: """
            An account holds the request's state, failure reason, paired workers, TTFT components (queue, prefill, \
            coordination, kv_transfer, first_decode) and the transfer's bytes and transport. A request the \
            coordinator does not know prints {"request_id": ..., "state": "unknown"}. The token comes from \
            --token-file or $HANDOFF_TOKEN.
            """)

    @Option(help: "The coordinator's HOST:PORT, or its cluster's HOST:PORT,HOST:PORT,... (the leader is found).")
    var coordinator: String
    @Option(help: "File holding the bearer token (default: $HANDOFF_TOKEN).") var tokenFile: String?
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @Argument(help: "Request ids.") var requestIDs: [String]

    func run() async throws {
        let address = try CoordinatorAddress(
            parsing: coordinator, token: try BearerToken.load(file: tokenFile), tls: try tls.files(forServer: false))
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let ids = requestIDs
        try await withLeaderCoordinatorClient(address) { client in
            for id in ids {
                var line = "{\"request_id\": \(Self.quoted(id)), \"state\": \"unknown\"}"
                do {
                    let account = try await client.getAccount(.with { $0.requestID = id })
                    line = try account.jsonString(options: options)
                } catch let error as RPCError where error.code == .notFound {
                }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }

    private static func quoted(_ text: String) -> String {
        (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
