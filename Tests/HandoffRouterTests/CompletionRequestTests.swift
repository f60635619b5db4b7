import Foundation
import HandoffProto
import Testing

@testable import HandoffRouter

/// What the router reads from a client's request and what it sends the prefill and the decode engine.
@Suite struct CompletionRequestTests {
    private func request(_ json: String, api: CompletionAPI = .completions) throws(RouterError) -> CompletionRequest {
        try CompletionRequest(api: api, json: Array(json.utf8))
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
        #expect(try object(completion.tokenizeBody)["prompt"] as? String == "hello world")
        completion.usePromptTokens([1, 2])
        #expect(try object(completion.decodeBody(ticket: "t"))["prompt"] as? [Int] == [1, 2])
    }

    @Test func chatMessagesAreTokenizedWithTheirTemplateSettings() throws {
        let completion = try request(
            #"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true}"#,
            api: .chat)
        let tokenize = try object(completion.tokenizeBody)
        #expect((tokenize["messages"] as? [Any])?.count == 1 && tokenize["add_generation_prompt"] as? Bool == true)
        #expect(tokenize["model"] as? String == "m" && tokenize.count == 3)
        #expect(try object(completion.prefillBody(ticket: "t"))["max_tokens"] as? Int == 1)
    }

    @Test(arguments: [#""n": 1"#, #""n": 1.0"#, #""n": null"#])
    func oneCompletionMayBeAskedForExplicitly(_ n: String) throws {
        #expect(try request(#"{"model": "m", "prompt": [1], \#(n)}"#).promptTokenIDs == [1])
    }

    @Test func aSingletonBatchIsOnePrompt() throws {
        let completion = try request(#"{"model": "m", "prompt": [[4, 5]]}"#)
        #expect(completion.promptTokenIDs == [4, 5])
        #expect(try object(completion.decodeBody(ticket: "t"))["prompt"] as? [Int] == [4, 5])
        let text = try request(#"{"model": "m", "prompt": ["a text"]}"#)
        #expect(text.promptTokenIDs == nil)
        #expect(try object(text.tokenizeBody)["prompt"] as? String == "a text")
    }

    @Test func theEnginesGetTheClientsOwnMembersWithEscapesAndNumbersAsSent() throws {
        let json =
            #"{"model":"m\u00e9","prompt":[1,2],"temperature":1e-7,"logit_bias":{"50256":-100},"stop":["\n\"a\\"],"#
            + #""user":"\ud83d\ude00 z","stream_options":{"include_usage":true},"stream":true}"#
        let completion = try request(json)
        #expect(completion.model == "mé" && completion.stream)
        let decode = String(decoding: completion.decodeBody(ticket: "t\"1"), as: UTF8.self)
        for member in [
            #""temperature":1e-7"#, #""logit_bias":{"50256":-100}"#, #""stop":["\n\"a\\"]"#,
            #""user":"\ud83d\ude00 z""#, #""stream":true"#,
        ] {
            #expect(decode.contains(member), "\(member) in \(decode)")
        }
        let prefill = try object(completion.prefillBody(ticket: "t\"1"))
        #expect(prefill["stream_options"] == nil && prefill["stream"] as? Bool == false)
        #expect((prefill["kv_transfer_params"] as? [String: Any])?["handoff_ticket"] as? String == "t\"1")
        #expect(prefill["user"] as? String == "\u{1F600} z")
    }

    @Test func aKeyTheRouterReadsMayNotBeSentTwiceOrSpelledWithEscapes() throws {
        // Python's json takes the last of two equal keys: the router would count one prompt and the engines
        // compute another.
        #expect(throws: RouterError.self) { try request(#"{"model": "m", "prompt": [1], "prompt": [1, 2, 3]}"#) }
        #expect(throws: RouterError.self) { try request(#"{"model": "m", "prompt": [1], "\u0070rompt": [1, 2]}"#) }
        #expect(throws: RouterError.self) {
            try request(#"{"model": "m", "prompt": [1], "kv_transfer_param\u0073": {}}"#)
        }
    }

    /// Its time and allocations are the micro-benchmarks' (`router.*`), not this test's.
    @Test func aPromptOfTheLongestModelIsReadAndForwardedWhole() throws {
        let ids = (0..<131_072).map { ($0 * 7919) % 128_000 }
        let completion = try request(#"{"model": "m", "prompt": \#(ids), "max_tokens": 1}"#)
        #expect(completion.promptTokenIDs == ids)
        #expect(try object(completion.decodeBody(ticket: "t"))["prompt"] as? [Int] == ids)
    }

    @Test(arguments: [
        "[1, 2]", "not json", #"{"prompt": [1]}"#, #"{"model": "", "prompt": [1]}"#, #"{"model": "m"}"#,
        #"{"model": "m", "prompt": [[1], [2]]}"#, #"{"model": "m", "prompt": [1], "n": 2}"#,
        // Only the integer 1 is one completion: a string, a fraction or a boolean would reach the engines.
        #"{"model": "m", "prompt": [1], "n": "2"}"#, #"{"model": "m", "prompt": [1], "n": 1.5}"#,
        #"{"model": "m", "prompt": [1], "n": "1"}"#, #"{"model": "m", "prompt": [1], "n": true}"#,
        #"{"model": "m", "prompt": [1], "n": 0}"#, #"{"model": "m", "prompt": [1], "n": [1]}"#,
        #"{"model": "m", "prompt": [1], "kv_transfer_params": {"handoff_ticket": "t1"}}"#,
        // Not JSON: what the engines would refuse or read otherwise is refused here.
        #"{"model": "m", "prompt": [1,]}"#, #"{"model": "m", "prompt": [01]}"#, #"{"model": "m"} x"#,
        #"{"model": "m", "prompt": "a\x"}"#, "{\"model\": \"m\u{01}\", \"prompt\": [1]}", #"{"model": 'm'}"#,
        #"{"model": "m", "prompt": [1], "t": nul}"#, #"{"model": "m", "prompt": [1], "t": -}"#,
        #"{"model": "m", "prompt": [1], "t": 1.}"#, #"{"model": "m", "prompt": [1], "t": "\u12"}"#,
        #"{"model": "m", "prompt": [1], "t": "open}"#, #"{"model": "m", "prompt": [1], "t" 1}"#,
        #"{"model": "m", "prompt": [1], "deep": "# + String(repeating: "[", count: 600)
            + String(repeating: "]", count: 600) + "}",
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
