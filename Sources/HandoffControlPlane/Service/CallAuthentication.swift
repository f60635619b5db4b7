import HandoffControlProtocol
import NIOCore
import NIOHTTP2

/// Reads the `authorization` header of each call as its HTTP/2 stream opens, before gRPC does, and tells the
/// connection: `FirstCallDeadline.CallOpened` for a call with the coordinator's token (the connection is then a
/// client's, kept at the connection cap), or, for one without, asks the connection to quiesce: gRPC sends GOAWAY,
/// takes no new call on it, and closes it once the calls open on it (this one's refusal included) are answered.
/// `BearerTokenServerInterceptor` still refuses the call itself.
///
/// Connections that only make unauthenticated calls thus never count as established: they are evicted first at the
/// cap, and each lives for one refused call at most.
final class CallAuthentication: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let token: BearerToken

    init(token: BearerToken) { self.token = token }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .headers(let headers) = unwrapInboundIn(data) {
            let authorized = headers.headers.first(name: "authorization").map(token.accepts(header:)) ?? false
            if let connection = context.channel.parent {
                if authorized {
                    connection.pipeline.fireUserInboundEventTriggered(FirstCallDeadline.CallOpened())
                } else {
                    connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                }
            }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
