import ArgumentParser

/// A `HOST:PORT` command-line value.
struct HostPort: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        host = String(argument[..<colon])
        if host.isEmpty { host = "0.0.0.0" }
        self.port = port
    }

    var description: String { "\(host):\(port)" }
}
