import NIOCore

/// Closes a new connection to a coordinator whose server sends nothing within a deadline of the TCP connection
/// being made. A coordinator that is paused (SIGSTOP, a stalled VM) still completes TCP handshakes from its
/// kernel's backlog but never answers the HTTP/2 preface (nor TLS), and gRPC has no deadline of its own for that
/// phase: calls would queue on such a connection for as long as the coordinator is gone instead of going to the
/// next one. The first bytes from the server disarm it.
final class ServerGreetingDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
