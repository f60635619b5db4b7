import NIOCore
import Synchronization

/// Tells the request served on a client's connection that the client closed it. Hummingbird cancels nothing when
/// a client leaves, and a streamed answer's write fails only once the engine sends its next chunk, which a lagging
/// engine may not do for seconds (measured: 4 to 5 s on two cores running two vLLM servers), while the engine
/// keeps computing for nobody. One per connection, in every connection's pipeline; the request being served sets
/// what to do when it closes (`onClose`).
final class ClientDisconnect: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private struct State {
        var closed = false
        var action: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Whether the client has closed the connection.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Runs `action` once when the connection closes, at once when it already has; replaces the action set before.
    func onClose(_ action: @escaping @Sendable () -> Void) {
        let closed = state.withLock { state in
            if !state.closed { state.action = action }
            return state.closed
        }
        if closed { action() }
    }

    /// Forgets the action: the request it was for has been served.
    func clear() { state.withLock { $0.action = nil } }

    func channelInactive(context: ChannelHandlerContext) {
        closed()
        context.fireChannelInactive()
    }

    /// Hummingbird allows half-closed connections, so a client's FIN arrives as `inputClosed`, not as the channel
    /// going inactive. An HTTP/1.1 client that closes its side while its answer is due has left (nginx reads it
    /// so too: `proxy_ignore_client_abort` off).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { closed() }
        context.fireUserInboundEventTriggered(event)
    }

    private func closed() {
        let action = state.withLock { state in
            state.closed = true
            defer { state.action = nil }
            return state.action
        }
        action?()
    }
}
