import Hummingbird

/// Why the router could not serve a request: an HTTP status and a message for the client, in OpenAI's error shape.
public struct RouterError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// OpenAI's error `type`.
    public var type: String

    public init(_ status: HTTPResponse.Status, _ message: String, type: String? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? (status.code >= 500 ? "server_error" : "invalid_request_error")
    }

    public var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String) -> RouterError { RouterError(.badRequest, message) }
    static func unavailable(_ message: String) -> RouterError { RouterError(.serviceUnavailable, message) }
    static func badGateway(_ message: String) -> RouterError { RouterError(.badGateway, message) }
}
