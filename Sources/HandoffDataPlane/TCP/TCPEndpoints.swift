import HandoffCore

/// The TCP endpoints a descriptor advertises, as `host:port` pairs separated by commas (UTF-8); a host may be an
/// IPv4 address or a DNS name.
enum TCPEndpoints {
    static func encode(_ endpoints: [(host: String, port: UInt16)]) -> [UInt8] {
        Array(endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",").utf8)
    }

    /// nil when the bytes are not a list of `host:port`.
    static func decode(_ bytes: [UInt8]) -> [(host: String, port: UInt16)]? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var endpoints: [(host: String, port: UInt16)] = []
        for item in text.split(separator: ",") {
            guard let endpoint = try? HostPort(parsing: String(item)) else { return nil }
            endpoints.append((endpoint.host, UInt16(endpoint.port)))
        }
        return endpoints
    }
}
