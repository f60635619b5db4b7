import AsyncAlgorithms
import AsyncHTTPClient
import Foundation
import HTTPTypes
import HandoffControlProtocol
import HandoffProto
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Tracing

/// Serves one completion request disaggregated: admits it at the coordinator, sends the prompt to the paired prefill
/// engine (one token, its KV handed over under the ticket), then sends the client's own request to the paired
/// decode engine, which loads that KV, and streams decode's answer back.
///
/// When anything fails after admission the router cancels the request at the coordinator, so both workers release
/// its blocks; when the client goes away (its connection closes, `ClientDisconnect`), whatever runs for it stops at
/// once: admission, prefill, or decode's answer, whose engine request is then cancelled too.
final class CompletionRouter: Sendable {
    let configuration: RouterConfiguration
    let coordinator: CoordinatorGateway
    let http: HTTPClient
    let metrics: RouterMetrics
    let logger: Logger
    private let inFlight = Atomic<Int>(0)
    private let tokenizer: TokenizerEndpoint
    /// The bytes of request bodies held at once.
    let bodyBudget: BodyBudget

    init(
        configuration: RouterConfiguration, coordinator: CoordinatorGateway, http: HTTPClient, metrics: RouterMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.coordinator = coordinator
        self.http = http
        self.metrics = metrics
        self.logger = logger
        self.tokenizer = TokenizerEndpoint(coordinator: coordinator)
        self.bodyBudget = BodyBudget(capacity: configuration.maxBufferedBodyBytes)
    }

    func respond(_ api: CompletionAPI, to request: Request, client: ClientDisconnect? = nil) async -> Response {
        let arrived = ContinuousClock.now
        let trace = RouterTrace.start(api, headers: request.headers)
        // The body first, within its deadline: a client still sending holds no slot.
        let body: [UInt8]
        let reservation: BodyBudget.Reservation
        do {
            (body, reservation) = try await receiveBody(request)
        } catch {
            var response = finish(
                api, error, outcome: error.status == .serviceUnavailable ? "refused" : "client_error", trace: trace)
            if error.status == .requestTimeout { response.headers[.connection] = "close" }
            return response
        }
        let slot = InFlightSlot(router: self)
        guard slot.active <= configuration.maxConcurrentRequests else {
            return finish(
                api, RouterError.unavailable("the router is handling \(configuration.maxConcurrentRequests) requests"),
                outcome: "refused", trace: trace)
        }
        // The body's bytes count against the budget until the request has been served.
        defer { withExtendedLifetime(reservation) {} }
        // Served in a task of its own, which the client's leaving cancels.
        let headers = request.headers
        let work = Task {
            await self.serve(
                api, body: body, headers: headers, arrived: arrived, slot: slot, trace: trace, client: client)
        }
        client?.onClose { work.cancel() }
        return await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            work.cancel()
        }
    }

    /// Admits and serves a request whose body is in.
    private func serve(
        _ api: CompletionAPI, body: [UInt8], headers: HTTPFields, arrived: ContinuousClock.Instant, slot: InFlightSlot,
        trace: RouterTrace, client: ClientDisconnect?
    ) async -> Response {
        var admitted: String?
        do {
            var completion = try CompletionRequest(api: api, json: body)
            let promptTokens = try await countTokens(&completion)
            let requestID = Self.requestID(headers)
            let admission = try await coordinator.admit(
                requestID: requestID, model: completion.model, promptTokens: promptTokens, mode: configuration.mode,
                traceparent: trace.traceparent)
            admitted = requestID
            trace.admitted(
                requestID: requestID, promptTokens: promptTokens, prefill: admission.prefillWorker,
                decode: admission.decodeWorker)
            guard !admission.prefillEndpoint.isEmpty, !admission.decodeEndpoint.isEmpty else {
                throw RouterError.unavailable(
                    "workers \(admission.prefillWorker) and \(admission.decodeWorker) registered no endpoint to send requests to"
                )
            }
            let answer = Answer(
                completion: completion, admission: admission, requestID: requestID, arrived: arrived, slot: slot,
                trace: trace, client: client)
            if configuration.mode == .push { return try await prefillBesideDecode(answer) }
            try await prefill(completion, admission, trace: trace)
            return try await decode(answer)
        } catch {
            if client?.isClosed == true {
                let reason = "the client disconnected"
                logger.notice("request cancelled", metadata: ["request": "\(admitted ?? "-")", "reason": "\(reason)"])
                if let admitted { await cancelAtCoordinator(requestID: admitted, reason: reason) }
                return finish(api, RouterError(Self.clientClosedRequest, reason), outcome: "client_gone", trace: trace)
            }
            guard let failure = error as? RouterError else {
                if let admitted { await cancelAtCoordinator(requestID: admitted, reason: "\(error)") }
                return finish(api, RouterError.badGateway("\(error)"), outcome: "decode_failed", trace: trace)
            }
            if let admitted { await cancelAtCoordinator(requestID: admitted, reason: failure.message) }
            return finish(api, failure, outcome: Self.outcome(of: failure, admitted: admitted != nil), trace: trace)
        }
    }

    /// nginx's status for a request whose client closed the connection first; no client reads it.
    static let clientClosedRequest = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")

    /// An admitted request on its way to decode's answer.
    private struct Answer: Sendable {
        let completion: CompletionRequest
        let admission: Handoff_V1_AdmitResponse
        let requestID: String
        let arrived: ContinuousClock.Instant
        let slot: InFlightSlot
        let trace: RouterTrace
        let client: ClientDisconnect?
    }

    /// One request counted in flight from its arrival until the last reference to it goes: the end of the
    /// handler, or of the streamed answer that holds it (which Hummingbird may also drop unwritten).
    final class InFlightSlot: Sendable {
        let router: CompletionRouter
        let active: Int

        init(router: CompletionRouter) {
            self.router = router
            active = router.inFlight.wrappingAdd(1, ordering: .relaxed).newValue
            router.metrics.inFlight(active)
        }

        deinit { router.metrics.inFlight(router.inFlight.wrappingSubtract(1, ordering: .relaxed).newValue) }
    }

    /// Reads the request's body within `bodyTimeout`, once its bytes fit `bodyBudget` (its `Content-Length`, or the
    /// most a body may have when it does not say); the reservation holds them until the request ends.
    ///
    /// - Throws: 413 for a body over `maxBodyBytes` (before reading it when it says so), 503 when the router already
    ///   holds `maxBufferedBodyBytes`, 408 when it does not arrive in time, 400 when it broke off.
    private func receiveBody(_ request: Request) async throws(RouterError) -> ([UInt8], BodyBudget.Reservation) {
        let limit = configuration.maxBodyBytes
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared < 0 {
            throw .badRequest("Content-Length must not be negative")
        }
        if let declared, declared > limit {
            throw RouterError(.contentTooLarge, "the request body has \(declared) bytes; at most \(limit) are taken")
        }
        guard let reservation = bodyBudget.reserve(declared ?? limit) else {
            throw .unavailable(
                "the router holds \(bodyBudget.capacity) bytes of request bodies already; retry shortly")
        }
        let timeout = configuration.bodyTimeout
        let body = request.body
        let received: ByteBuffer?
        do {
            received = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await body.collect(upTo: limit) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        } catch {
            throw RouterError(.contentTooLarge, "the request body exceeds \(limit) bytes or broke off")
        }
        guard let received else {
            throw RouterError(.requestTimeout, "the request body did not arrive whole within \(timeout)")
        }
        return (Array(received.readableBytesView), reservation)
    }

    /// The prompt's tokens as the engines count them: the client's ids, or what an engine's `/tokenize` says.
    private func countTokens(_ completion: inout CompletionRequest) async throws(RouterError) -> Int {
        if let ids = completion.promptTokenIDs { return ids.count }
        let tokens = try await tokenizer.tokenize(completion, http: http, timeout: configuration.prefillTimeout)
        completion.usePromptTokens(tokens)
        return tokens.count
    }

    /// Runs prefill; returns once the prefill engine holds the prompt's KV for the ticket.
    private func prefill(
        _ completion: CompletionRequest, _ admission: Handoff_V1_AdmitResponse, trace: RouterTrace
    ) async throws {
        let url = admission.prefillEndpoint + completion.api.path
        let call = trace.call("handoff.router.prefill", engine: admission.prefillWorker, url: url)
        defer { call.span?.end() }
        do {
            try await sendPrompt(completion, admission, url: url, traceparent: call.traceparent)
        } catch {
            RouterTrace.failed(call.span, error)
            throw error
        }
    }

    private func sendPrompt(
        _ completion: CompletionRequest, _ admission: Handoff_V1_AdmitResponse, url: String, traceparent: String
    ) async throws {
        let started = ContinuousClock.now
        let response = try await post(
            completion.prefillBody(ticket: admission.ticket), to: url, timeout: configuration.prefillTimeout,
            traceparent: traceparent)
        let answer = try await response.body.collect(upTo: configuration.maxBodyBytes)
        guard response.status == .ok else {
            throw RouterError.badGateway(
                "prefill engine \(admission.prefillWorker) answered \(response.status.code): \(String(buffer: answer).prefix(512))"
            )
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: answer)) as? [String: Any],
            let params = object["kv_transfer_params"] as? [String: Any],
            params["handoff_ticket"] as? String == admission.ticket
        else {
            throw RouterError.badGateway(
                "prefill engine \(admission.prefillWorker) did not hand the KV over (is it running HandoffConnector as kv_producer?)"
            )
        }
        metrics.prefill(nanoseconds: Self.nanoseconds(since: started))
    }

    /// Push mode: sends the client's request to decode first and the prompt to prefill once decode has reserved
    /// its blocks (or `pushReserveWait` passed), so that prefill knows where to write before it computes. A prefill
    /// that fails cancels the request at the coordinator at once, which ends decode's wait for the KV.
    private func prefillBesideDecode(_ request: Answer) async throws -> Response {
        async let answer = decode(request)
        if configuration.pushReserveWait > .zero {
            _ = await coordinator.awaitReservation(requestID: request.requestID, timeout: configuration.pushReserveWait)
        }
        do {
            try await prefill(request.completion, request.admission, trace: request.trace)
        } catch {
            await cancelAtCoordinator(requestID: request.requestID, reason: "prefill failed: \(error)")
            throw error  // leaving cancels decode's request
        }
        return try await answer
    }

    /// Sends the client's request to decode and streams its answer back.
    private func decode(_ request: Answer) async throws -> Response {
        let (completion, admission, requestID, trace) = (
            request.completion, request.admission, request.requestID, request.trace
        )
        let url = admission.decodeEndpoint + completion.api.path
        let call = trace.call("handoff.router.decode", engine: admission.decodeWorker, url: url)
        let response: HTTPClientResponse
        do {
            response = try await post(
                completion.decodeBody(ticket: admission.ticket), to: url, timeout: configuration.decodeTimeout,
                traceparent: call.traceparent)
            guard response.status == .ok else {
                let answer = try await response.body.collect(upTo: configuration.maxBodyBytes)
                throw RouterError.badGateway(
                    "decode engine \(admission.decodeWorker) answered \(response.status.code): \(String(buffer: answer).prefix(512))"
                )
            }
        } catch {
            RouterTrace.failed(call.span, error)
            call.span?.end()
            throw error
        }
        var headers = HTTPFields()
        headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
        headers[HTTPField.Name("x-request-id")!] = requestID
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { [self] writer in
                defer { call.span?.end() }
                try await stream(response, of: request, to: &writer, span: call.span)
            })
    }

    /// Writes decode's answer to the client as it comes. Decode's body is read by a task of its own, handed over one
    /// chunk at a time (the client's pace holds the engine's), which the client's connection closing cancels at once:
    /// leaving the loop, or that task's cancellation, drops decode's response, which cancels its engine request.
    private func stream(
        _ response: HTTPClientResponse, of request: Answer, to writer: inout any ResponseBodyWriter, span: (any Span)?
    ) async throws {
        _ = request.slot  // held until the answer is written
        let chunks = AsyncThrowingChannel<ByteBuffer, any Error>()
        let reader = Task {
            do {
                for try await chunk in response.body { await chunks.send(chunk) }
                try Task.checkCancellation()
                chunks.finish()
            } catch {
                chunks.fail(error)
            }
        }
        request.client?.onClose { reader.cancel() }
        defer {
            reader.cancel()
            request.client?.clear()
        }
        let api = request.completion.api
        var first = true
        var writeFailed = false
        do {
            for try await chunk in chunks {
                if first {
                    metrics.firstByte(nanoseconds: Self.nanoseconds(since: request.arrived))
                    span?.addEvent("first byte")
                    first = false
                }
                do {
                    try await writer.write(chunk)
                } catch {
                    writeFailed = true
                    throw error
                }
            }
            try await writer.finish(nil)
            metrics.finished(api: api, outcome: "ok")
            request.trace.end(outcome: "ok")
        } catch {
            let clientLeft = writeFailed || Task.isCancelled || request.client?.isClosed == true
            let outcome = clientLeft ? "client_gone" : "decode_failed"
            metrics.finished(api: api, outcome: outcome)
            let reason = clientLeft ? "the client disconnected" : "decode's answer broke off: \(error)"
            request.trace.end(outcome: outcome, reason: reason)
            logger.notice("request cancelled", metadata: ["request": "\(request.requestID)", "reason": "\(reason)"])
            await cancelAtCoordinator(requestID: request.requestID, reason: reason)
            throw error
        }
    }

    /// Cancels the request at the coordinator even when the calling task is itself cancelled (its client left):
    /// the call runs in a task of its own, which does not inherit the caller's cancellation.
    private func cancelAtCoordinator(requestID: String, reason: String) async {
        let coordinator = coordinator
        await Task { await coordinator.cancel(requestID: requestID, reason: reason) }.value
    }

    /// POSTs `body` to an engine, with `traceparent` (when not empty) as the W3C trace context header.
    private func post(
        _ body: Data, to url: String, timeout: Duration, traceparent: String
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if !traceparent.isEmpty { request.headers.add(name: "traceparent", value: traceparent) }
        request.body = .bytes(ByteBuffer(data: body))
        return try await http.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
    }

    private func finish(_ api: CompletionAPI, _ error: RouterError, outcome: String, trace: RouterTrace) -> Response {
        metrics.finished(api: api, outcome: outcome)
        trace.end(outcome: outcome, reason: error.message)
        if error.status.code >= 500 { logger.warning("request failed", metadata: ["error": "\(error)"]) }
        return Self.errorResponse(error)
    }

    static func errorResponse(_ error: RouterError) -> Response {
        let object: [String: Any] = [
            "error": ["message": error.message, "type": error.type, "code": Int(error.status.code)]
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(
            status: error.status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    static func outcome(of error: RouterError, admitted: Bool) -> String {
        if !admitted { return error.status == .serviceUnavailable ? "refused" : "client_error" }
        return error.message.hasPrefix("decode") ? "decode_failed" : "prefill_failed"
    }

    /// The client's `X-Request-Id` when it is 1 to 128 printable bytes, otherwise a fresh one.
    static func requestID(_ headers: HTTPFields) -> String {
        if let given = headers[HTTPField.Name("x-request-id")!], !given.isEmpty, given.utf8.count <= 128,
            given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return given
        }
        return "handoff-" + UUID().uuidString.lowercased()
    }

    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 { nanoseconds(ContinuousClock.now - start) }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
