import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Counts a text prompt's tokens with an engine's own `/tokenize` (any live prefill engine: they serve one model),
/// so that the coordinator reserves exactly the blocks the engines will fill.
final class TokenizerEndpoint: Sendable {
    private let coordinator: CoordinatorGateway
    private let cached = Mutex<(endpoints: [String], fetched: ContinuousClock.Instant?)>(([], nil))

    init(coordinator: CoordinatorGateway) { self.coordinator = coordinator }

    /// The prompt's token ids.
    /// - Throws: `RouterError` 503 when no prefill engine has an endpoint, 400 when the engine cannot tokenize it.
    func tokenize(
        _ completion: CompletionRequest, http: HTTPClient, timeout: Duration
    ) async throws(RouterError) -> [Int] {
        guard let endpoint = try await endpoints().randomElement() else {
            throw .unavailable("no live prefill engine registered an endpoint to tokenize the prompt with")
        }
        let bytes: [UInt8]
        do {
            var request = HTTPClientRequest(url: endpoint + "/tokenize")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: completion.tokenizeBody))
            let response = try await http.execute(request, timeout: .nanoseconds(CompletionRouter.nanoseconds(timeout)))
            let answer = try await response.body.collect(upTo: 64 << 20)
            guard response.status == .ok else {
                throw RouterError.badRequest(
                    "the engine could not tokenize the prompt: \(String(buffer: answer).prefix(512))")
            }
            bytes = Array(answer.readableBytesView)
        } catch let error as RouterError {
            throw error
        } catch {
            throw .badGateway("tokenizing at \(endpoint) failed: \(error)")
        }
        guard let ids = Self.tokens(in: bytes) else {
            throw .badGateway("\(endpoint)/tokenize answered without a token list")
        }
        guard !ids.isEmpty else { throw .badRequest("the prompt has no tokens") }
        return ids
    }

    /// The `tokens` of a `/tokenize` answer, read in place; nil when it has none.
    static func tokens(in answer: [UInt8]) -> [Int]? {
        guard let document = try? JSONDocument(validating: answer), document.isObject(document.root),
            let tokens = document.members(ofObject: document.root).last(where: { $0.key == "tokens" })
        else { return nil }
        return document.nonNegativeIntegers(ofArray: tokens.value)
    }

    /// Live prefill engines' endpoints, refreshed at most once a second.
    private func endpoints() async throws(RouterError) -> [String] {
        let now = ContinuousClock.now
        let current = cached.withLock { $0 }
        if let fetched = current.fetched, now - fetched < .seconds(1), !current.endpoints.isEmpty {
            return current.endpoints
        }
        let endpoints = try await coordinator.workers()
            .filter { $0.role == .prefill && $0.state == "live" && !$0.endpoint.isEmpty }.map(\.endpoint)
        cached.withLock { $0 = (endpoints, now) }
        return endpoints
    }
}
