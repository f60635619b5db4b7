import Hummingbird
import NIOCore

/// The router's request context: Hummingbird's basics, plus the client's connection, to learn when it closes.
struct RouterRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The client's connection.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The connection's `ClientDisconnect`; nil on a connection without one.
    func clientDisconnect() async -> ClientDisconnect? {
        try? await channel.pipeline.handler(type: ClientDisconnect.self).get()
    }
}
