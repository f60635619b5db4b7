import Foundation
import HandoffControlProtocol
import HandoffCore
import Hummingbird
import NIOCore

/// The stand-in engine's HTTP answers: what a client of vLLM's OpenAI API sees, without a model. It reads only what
/// it needs from a body (the Handoff ticket and whether to stream), without parsing the prompt.
struct StandinAnswers: Sendable {
    let engine: StandinEngine
    let role: WorkerRole
    let outputTokens: Int
    let tokenInterval: Duration

    /// The most bytes of a request body read.
    static let maxBodyBytes = 64 << 20

    func respond(to request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "the body is over \(Self.maxBodyBytes) bytes")
        }
        let bytes = body.readableBytesView
        let ticket = Self.stringValue(of: "handoff_ticket", in: bytes)
        switch role {
        case .prefill:
            guard let ticket else { return Self.error(.badRequest, "a prefill request carries a handoff_ticket") }
            if let failure = await engine.prefill(ticket: ticket) { return Self.error(.serviceUnavailable, failure) }
            let answer =
                #"{"id":"cmpl-\#(ticket)","object":"text_completion","choices":[{"index":0,"text":"x","#
                + #""finish_reason":"length"}],"kv_transfer_params":{"handoff_ticket":"\#(ticket)","#
                + #""do_remote_decode":true}}"#
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer)))
        case .decode:
            let started = ContinuousClock.now
            if let ticket, let failure = await engine.awaitLoad(ticket: ticket) {
                return Self.error(.serviceUnavailable, failure)
            }
            if Self.contains(#""stream":true"#, in: bytes) || Self.contains(#""stream": true"#, in: bytes) {
                return stream(ticket: ticket, started: started)
            }
            return await whole(ticket: ticket, started: started)
        }
    }

    /// Server-sent events: one chunk per token, then `[DONE]`.
    private func stream(ticket: String?, started: ContinuousClock.Instant) -> Response {
        let (engine, tokens, interval) = (self.engine, outputTokens, tokenInterval)
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream"],
            body: ResponseBody { writer in
                defer { if let ticket { Task { await engine.finished(ticket: ticket) } } }
                for index in 0..<tokens {
                    if index > 0 { try await Task.sleep(for: interval) }
                    let chunk = #"data: {"object":"text_completion","choices":[{"index":0,"text":"t"}]}"# + "\n\n"
                    try await writer.write(ByteBuffer(string: chunk))
                    if index == 0, let ticket {
                        await engine.firstToken(ticket: ticket, seconds: (ContinuousClock.now - started).seconds)
                    }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    /// One JSON answer once every token is made.
    private func whole(ticket: String?, started: ContinuousClock.Instant) async -> Response {
        if let ticket { await engine.firstToken(ticket: ticket, seconds: (ContinuousClock.now - started).seconds) }
        try? await Task.sleep(for: tokenInterval * max(0, outputTokens - 1))
        if let ticket { await engine.finished(ticket: ticket) }
        let text = String(repeating: "t", count: outputTokens)
        let answer = #"{"object":"text_completion","choices":[{"index":0,"text":"\#(text)","finish_reason":"length"}]}"#
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: answer)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let escaped = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "'")
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":{"message":"\#(escaped)"}}"#)))
    }

    /// The string value of the first `"key":"..."` (or `"key": "..."`) in `bytes`, up to 256 printable bytes.
    static func stringValue(of key: String, in bytes: ByteBufferView) -> String? {
        let needle = Array("\"\(key)\"".utf8)
        guard let start = firstIndex(of: needle, in: bytes) else { return nil }
        var index = start + needle.count
        while index < bytes.endIndex, [UInt8(ascii: " "), UInt8(ascii: ":")].contains(bytes[index]) {
            index += 1
        }
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var value: [UInt8] = []
        while index < bytes.endIndex, bytes[index] != UInt8(ascii: "\""), value.count < 256 {
            guard bytes[index] >= 0x20, bytes[index] != UInt8(ascii: "\\") else { return nil }
            value.append(bytes[index])
            index += 1
        }
        return value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
    }

    static func contains(_ text: String, in bytes: ByteBufferView) -> Bool {
        firstIndex(of: Array(text.utf8), in: bytes) != nil
    }

    private static func firstIndex(of needle: [UInt8], in bytes: ByteBufferView) -> Int? {
        guard let first = needle.first, bytes.count >= needle.count else { return nil }
        var index = bytes.startIndex
        let last = bytes.endIndex - needle.count
        while index <= last {
            guard let found = bytes[index...last].firstIndex(of: first) else { return nil }
            if bytes[found..<(found + needle.count)].elementsEqual(needle) { return found }
            index = found + 1
        }
        return nil
    }
}
