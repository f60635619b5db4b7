import ArgumentParser
import HandoffCore

/// `HOST:PORT` on the command line: an IPv4 address, a DNS name or `[IPv6]`; an empty host means every interface
/// (`:7470`), and port 0 lets the kernel choose.
extension HostPort: ExpressibleByArgument {
    public init?(argument: String) {
        guard let parsed = try? HostPort(parsing: argument, defaultHost: "0.0.0.0", allowsPortZero: true) else {
            return nil
        }
        self = parsed
    }
}
