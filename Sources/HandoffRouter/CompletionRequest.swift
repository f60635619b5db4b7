import Foundation

/// A client's completion request as JSON, with what the router needs from it and the two bodies it derives for
/// the prefill and the decode engine.
struct CompletionRequest: @unchecked Sendable {
    // @unchecked: `body` holds Foundation's JSON objects, which this value alone owns and never shares mutably.
    let api: CompletionAPI
    private(set) var body: [String: Any]

    /// Parses a request body.
    /// - Throws: `RouterError` 400 when it is not a JSON object, names no model, or carries a batch of prompts.
    init(api: CompletionAPI, json: Data) throws(RouterError) {
        guard let object = try? JSONSerialization.jsonObject(with: json), let body = object as? [String: Any] else {
            throw .badRequest("the request body must be a JSON object")
        }
        self.api = api
        self.body = body
        guard let model = body["model"] as? String, !model.isEmpty, model.utf8.count <= 256 else {
            throw .badRequest("\"model\" must name the model (1 to 256 bytes)")
        }
        if let n = body["n"], !Self.isOne(n) {
            throw .badRequest("\"n\" must be the integer 1: one completion per request is served in disaggregated mode")
        }
        switch api {
        case .completions:
            guard body["prompt"] != nil else { throw .badRequest("\"prompt\" is missing") }
            if let batch = body["prompt"] as? [Any], let first = batch.first, !(first is NSNumber) {
                guard batch.count == 1 else {
                    throw .badRequest("send one prompt per request, not a batch of \(batch.count)")
                }
                self.body["prompt"] = first
            }
        case .chat:
            guard body["messages"] is [Any] else { throw .badRequest("\"messages\" must be a list") }
        }
        if body["kv_transfer_params"] != nil {
            throw .badRequest("\"kv_transfer_params\" is the router's to set")
        }
    }

    /// Whether a JSON value asks for one completion: the number 1, or null (the default).
    static func isOne(_ value: Any) -> Bool {
        if value is NSNull { return true }
        // JSON's true decodes to a number of type "c" (char); its numbers never do.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return false }
        return number.doubleValue == 1
    }

    var model: String { body["model"] as? String ?? "" }

    /// Whether the client asked for a server-sent-event stream.
    var stream: Bool { (body["stream"] as? Bool) ?? false }

    /// The prompt's token ids when the client sent ids, nil for text or messages (which the engine tokenizes).
    var promptTokenIDs: [Int]? {
        guard api == .completions, let ids = body["prompt"] as? [Any], !ids.isEmpty else { return nil }
        var tokens: [Int] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = id as? Int, token >= 0 else { return nil }
            tokens.append(token)
        }
        return tokens
    }

    /// What to send an engine's `/tokenize` to count the prompt's tokens as it will.
    var tokenizeBody: [String: Any] {
        var request: [String: Any] = ["model": model]
        switch api {
        case .completions: request["prompt"] = body["prompt"]
        case .chat:
            request["messages"] = body["messages"]
            for key in [
                "add_generation_prompt", "continue_final_message", "chat_template", "chat_template_kwargs", "tools",
            ]
            where body[key] != nil {
                request[key] = body[key]
            }
        }
        return request
    }

    /// Replaces a text prompt by its token ids, so that both engines compute exactly the tokens admitted.
    mutating func usePromptTokens(_ tokens: [Int]) {
        if api == .completions { body["prompt"] = tokens }
    }

    /// The prefill engine's request: one token, not streamed, handing the KV over under `ticket`.
    func prefillBody(ticket: String) throws(RouterError) -> Data {
        var prefill = body
        prefill["stream"] = false
        prefill["stream_options"] = nil
        prefill["max_tokens"] = 1
        if api == .chat, prefill["max_completion_tokens"] != nil { prefill["max_completion_tokens"] = 1 }
        prefill["min_tokens"] = nil
        prefill["kv_transfer_params"] = [
            "handoff_ticket": ticket, "do_remote_decode": true, "do_remote_prefill": false,
        ]
        return try Self.encode(prefill)
    }

    /// The decode engine's request: the client's own, loading the KV handed over under `ticket`.
    func decodeBody(ticket: String) throws(RouterError) -> Data {
        var decode = body
        decode["kv_transfer_params"] = ["handoff_ticket": ticket, "do_remote_prefill": true, "do_remote_decode": false]
        return try Self.encode(decode)
    }

    static func encode(_ object: [String: Any]) throws(RouterError) -> Data {
        do {
            return try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw .badRequest("the request cannot be re-encoded as JSON: \(error)")
        }
    }
}
