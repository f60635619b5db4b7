import Foundation
import HandoffProto
import Testing

@testable import HandoffRouter

/// What the router reads from a client's request and what it sends the prefill and the decode engine.
@Suite struct CompletionRequestTests {
    private func request(_ json: String, api: CompletionAPI = .completions) throws(RouterError) -> CompletionRequest {
        try CompletionRequest(api: api, json: Data(json.utf8))
    }

    private func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func prefillGetsOneUnstreamedTokenAndDecodeTheClientsOwnRequestBothUnderTheTicket() throws {
        let completion = try request(
            #"{"model": "m", "prompt": [5, 6, 7], "max_tokens": 16, "stream": true, "stream_options": {"include_usage": true}, "temperature": 0}"#
        )
        #expect(completion.promptTokenIDs == [5, 6, 7] && completion.stream && completion.model == "m")

        let prefill = try object(completion.prefillBody(ticket: "t9"))
        #expect(
            prefill["max_tokens"] as? Int == 1 && prefill["stream"] as? Bool == false
                && prefill["stream_options"] == nil)
        let prefillParams = try #require(prefill["kv_transfer_params"] as? [String: Any])
        #expect(
            prefillParams["handoff_ticket"] as? String == "t9" && prefillParams["do_remote_decode"] as? Bool == true)

        let decode = try object(completion.decodeBody(ticket: "t9"))
        #expect(
            decode["max_tokens"] as? Int == 16 && decode["stream"] as? Bool == true
                && decode["temperature"] as? Int == 0)
        let decodeParams = try #require(decode["kv_transfer_params"] as? [String: Any])
        #expect(decodeParams["handoff_ticket"] as? String == "t9" && decodeParams["do_remote_prefill"] as? Bool == true)
        #expect(decode["prompt"] as? [Int] == [5, 6, 7])
    }

    @Test func aTextPromptIsCountedByTheEngineAndThenSentAsTokenIDs() throws {
        var completion = try request(#"{"model": "m", "prompt": "hello world"}"#)
        #expect(completion.promptTokenIDs == nil)
        #expect(completion.tokenizeBody["prompt"] as? String == "hello world")
        completion.usePromptTokens([1, 2])
        #expect(try object(completion.decodeBody(ticket: "t"))["prompt"] as? [Int] == [1, 2])
    }

    @Test func chatMessagesAreTokenizedWithTheirTemplateSettings() throws {
        let completion = try request(
            #"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true}"#,
            api: .chat)
        #expect((completion.tokenizeBody["messages"] as? [Any])?.count == 1)
        #expect(completion.tokenizeBody["add_generation_prompt"] as? Bool == true)
        #expect(try object(completion.prefillBody(ticket: "t"))["max_tokens"] as? Int == 1)
    }

    @Test(arguments: [#""n": 1"#, #""n": 1.0"#, #""n": null"#])
    func oneCompletionMayBeAskedForExplicitly(_ n: String) throws {
        #expect(try request(#"{"model": "m", "prompt": [1], \#(n)}"#).promptTokenIDs == [1])
    }

    @Test func aSingletonBatchIsOnePrompt() throws {
        #expect(try request(#"{"model": "m", "prompt": [[4, 5]]}"#).promptTokenIDs == [4, 5])
    }

    @Test(arguments: [
        "[1, 2]", "not json", #"{"prompt": [1]}"#, #"{"model": "", "prompt": [1]}"#, #"{"model": "m"}"#,
        #"{"model": "m", "prompt": [[1], [2]]}"#, #"{"model": "m", "prompt": [1], "n": 2}"#,
        // Only the integer 1 is one completion: a string, a fraction or a boolean would reach the engines.
        #"{"model": "m", "prompt": [1], "n": "2"}"#, #"{"model": "m", "prompt": [1], "n": 1.5}"#,
        #"{"model": "m", "prompt": [1], "n": "1"}"#, #"{"model": "m", "prompt": [1], "n": true}"#,
        #"{"model": "m", "prompt": [1], "n": 0}"#, #"{"model": "m", "prompt": [1], "n": [1]}"#,
        #"{"model": "m", "prompt": [1], "kv_transfer_params": {"handoff_ticket": "t1"}}"#,
    ])
    func requestsTheRouterCannotServeAreRefusedAsBadRequests(_ json: String) {
        #expect(throws: RouterError.self) { try request(json) }
        do {
            _ = try request(json)
        } catch {
            #expect(error.status == .badRequest)
        }
    }

    @Test func chatWithoutMessagesIsRefused() {
        #expect(throws: RouterError.self) { try request(#"{"model": "m", "prompt": [1]}"#, api: .chat) }
    }

    @Test func coordinatorRefusalsBecomeHTTPStatuses() {
        #expect(
            CoordinatorGateway.routerError(.init(code: .resourceExhausted, message: "no pair"), doing: "admit").status
                == .serviceUnavailable)
        #expect(
            CoordinatorGateway.routerError(.init(code: .invalidArgument, message: "bad"), doing: "admit").status
                == .badRequest)
        #expect(
            CoordinatorGateway.routerError(.init(code: .alreadyExists, message: "dup"), doing: "admit").status
                == .conflict)
        #expect(
            CoordinatorGateway.routerError(.init(code: .unauthenticated, message: "token"), doing: "admit").status
                == .badGateway)
    }
}
