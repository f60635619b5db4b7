import NIOCore

/// Closes a connection to the gRPC port that opens no call within a deadline of being accepted: one that never
/// completes TLS or the HTTP/2 preface, or completes them and then asks for nothing. (gRPC's own idle limit closes
/// such a connection only once the client acknowledges a GOAWAY, which one that never speaks never does.)
///
/// Sits first in the connection's pipeline; `CallOpened`, fired on the connection's pipeline when a stream is
/// accepted, disarms it and, the first time, runs `onFirstCall`.
final class FirstCallDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// The event that disarms the deadline.
    struct CallOpened: Sendable {}

    private let deadline: TimeAmount
    private let onFirstCall: @Sendable () -> Void
    private var timer: Scheduled<Void>?
    private var called = false

    init(deadline: Duration, onFirstCall: @escaping @Sendable () -> Void) {
        self.onFirstCall = onFirstCall
        self.deadline = .nanoseconds(
            Int64(
                clamping: deadline.components.seconds * 1_000_000_000
                    + deadline.components.attoseconds / 1_000_000_000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is CallOpened {
            if !called {
                called = true
                timer?.cancel()
                timer = nil
                onFirstCall()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
