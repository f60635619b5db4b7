import Foundation

/// A client's completion request, with what the router needs from it and the two bodies it derives for the
/// prefill and the decode engine.
///
/// The body is validated and read in place (`JSONDocument`): the prompt's token ids go straight into integers and
/// the engines' bodies are the client's own bytes with a few top-level members replaced, so a request holds about
/// its body's bytes plus 8 bytes a token, not a tree of boxed values.
package struct CompletionRequest: Sendable {
    let api: CompletionAPI
    let model: String
    /// Whether the client asked for a server-sent-event stream.
    let stream: Bool
    /// The prompt's token ids when the client sent ids (or after `usePromptTokens`), nil for text or messages
    /// (which the engine tokenizes).
    package private(set) var promptTokenIDs: [Int]?

    private let document: JSONDocument
    /// The top-level members as the client sent them.
    private let members: [JSONDocument.Member]
    /// The prompt's JSON when it is not the client's own member: a batch of one unwrapped, or token ids.
    private var prompt: [UInt8]?

    /// Parses a request body.
    /// - Throws: `RouterError` 400 when it is not a JSON object, repeats a key, names no model, asks for more than
    ///   one completion, carries a batch of prompts, or sets `kv_transfer_params`.
    package init(api: CompletionAPI, json: [UInt8]) throws(RouterError) {
        let document: JSONDocument
        do {
            document = try JSONDocument(validating: json)
        } catch {
            throw .badRequest("the request body is not JSON: \(error)")
        }
        guard document.isObject(document.root) else { throw .badRequest("the request body must be a JSON object") }
        self.api = api
        self.document = document
        members = document.members(ofObject: document.root)
        let byKey = try Self.uniqueKeys(members)
        guard let model = byKey["model"].flatMap({ document.string(at: $0.value) }), !model.isEmpty,
            model.utf8.count <= 256
        else {
            throw .badRequest("\"model\" must name the model (1 to 256 bytes)")
        }
        self.model = model
        stream = byKey["stream"].flatMap { document.bool(at: $0.value) } ?? false
        if let n = byKey["n"], !document.isNull(n.value), document.number(at: n.value) != 1 {
            throw .badRequest("\"n\" must be the integer 1: one completion per request is served in disaggregated mode")
        }
        if byKey["kv_transfer_params"] != nil {
            throw .badRequest("\"kv_transfer_params\" is the router's to set")
        }
        switch api {
        case .completions:
            guard let prompt = byKey["prompt"] else { throw .badRequest("\"prompt\" is missing") }
            try readPrompt(prompt.value)
        case .chat:
            guard let messages = byKey["messages"], document.isArray(messages.value) else {
                throw .badRequest("\"messages\" must be a list")
            }
        }
    }

    /// Reads the prompt's token ids; a batch of one prompt is that prompt.
    private mutating func readPrompt(_ value: Range<Int>) throws(RouterError) {
        var value = value
        if document.isArray(value) {
            let elements = document.elements(ofArray: value)
            if let first = elements.first, document.isArray(first) || document.first(first) == UInt8(ascii: "\"") {
                guard elements.count == 1 else {
                    throw .badRequest("send one prompt per request, not a batch of \(elements.count)")
                }
                value = first
                prompt = Array(document.bytes[first])
            }
        }
        if let ids = document.nonNegativeIntegers(ofArray: value), !ids.isEmpty { promptTokenIDs = ids }
    }

    /// The members by key.
    /// - Throws: 400 for a key sent twice: the router and the engines must read the same value.
    private static func uniqueKeys(
        _ members: [JSONDocument.Member]
    ) throws(RouterError) -> [String: JSONDocument.Member] {
        var byKey: [String: JSONDocument.Member] = [:]
        byKey.reserveCapacity(members.count)
        for member in members {
            guard byKey.updateValue(member, forKey: member.key) == nil else {
                throw .badRequest("the key \"\(member.key.prefix(64))\" appears twice in the request")
            }
        }
        return byKey
    }

    /// What to send an engine's `/tokenize` to count the prompt's tokens as it will.
    var tokenizeBody: Data {
        var copied: Set<String> = ["model"]
        switch api {
        case .completions: copied.insert("prompt")
        case .chat:
            copied.formUnion([
                "messages", "add_generation_prompt", "continue_final_message", "chat_template", "chat_template_kwargs",
                "tools",
            ])
        }
        var kept = members.filter { copied.contains($0.key) }
        if let prompt, api == .completions {
            kept.removeAll { $0.key == "prompt" }
            return object(kept, adding: [("prompt", prompt)])
        }
        return object(kept, adding: [])
    }

    /// Replaces a text prompt by its token ids, so that both engines compute exactly the tokens admitted.
    mutating func usePromptTokens(_ tokens: [Int]) {
        guard api == .completions else { return }
        promptTokenIDs = tokens
        prompt = Self.json(tokens)
    }

    /// The prefill engine's request: one token, not streamed, handing the KV over under `ticket`.
    func prefillBody(ticket: String) -> Data {
        var replaced: [(String, [UInt8]?)] = [
            ("stream", Array("false".utf8)), ("stream_options", nil), ("max_tokens", Array("1".utf8)),
            ("min_tokens", nil),
            (
                "kv_transfer_params",
                Array(#"{"handoff_ticket":"#.utf8) + Self.json(ticket)
                    + Array(#","do_remote_decode":true,"do_remote_prefill":false}"#.utf8)
            ),
        ]
        if api == .chat, members.contains(where: { $0.key == "max_completion_tokens" }) {
            replaced.append(("max_completion_tokens", Array("1".utf8)))
        }
        return body(replacing: replaced)
    }

    /// The decode engine's request: the client's own, loading the KV handed over under `ticket`.
    package func decodeBody(ticket: String) -> Data {
        body(replacing: [
            (
                "kv_transfer_params",
                Array(#"{"handoff_ticket":"#.utf8) + Self.json(ticket)
                    + Array(#","do_remote_prefill":true,"do_remote_decode":false}"#.utf8)
            )
        ])
    }

    /// The client's object with the members named in `replaced` removed, and those with JSON added (the prompt
    /// too, when the router rewrote it).
    private func body(replacing replaced: [(String, [UInt8]?)]) -> Data {
        var replaced = replaced
        if let prompt { replaced.append(("prompt", prompt)) }
        let keys = Set(replaced.map(\.0))
        let added = replaced.compactMap { key, json in json.map { (key, $0) } }
        return object(members.filter { !keys.contains($0.key) }, adding: added)
    }

    /// `{` the client's `members` as sent, then `added` `}`.
    private func object(_ members: [JSONDocument.Member], adding added: [(String, [UInt8])]) -> Data {
        var data = Data()
        data.reserveCapacity(members.reduce(2) { $0 + $1.bytes.count + 1 } + added.reduce(0) { $0 + $1.1.count + 64 })
        data.append(UInt8(ascii: "{"))
        for member in members {
            if data.count > 1 { data.append(UInt8(ascii: ",")) }
            data.append(contentsOf: document.bytes[member.bytes])
        }
        for (key, json) in added {
            if data.count > 1 { data.append(UInt8(ascii: ",")) }
            data.append(contentsOf: Self.json(key))
            data.append(UInt8(ascii: ":"))
            data.append(contentsOf: json)
        }
        data.append(UInt8(ascii: "}"))
        return data
    }

    /// A string as JSON.
    static func json(_ string: String) -> [UInt8] {
        // Encoding a String cannot fail.
        Array((try? JSONEncoder().encode(string)) ?? Data("\"\"".utf8))
    }

    /// Integers as a JSON array.
    static func json(_ integers: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        bytes.reserveCapacity(integers.count * 7 + 2)
        for (index, integer) in integers.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: String(integer).utf8)
        }
        bytes.append(UInt8(ascii: "]"))
        return bytes
    }
}
