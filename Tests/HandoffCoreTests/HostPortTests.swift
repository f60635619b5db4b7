import HandoffCore
import Testing

@Suite struct HostPortTests {
    @Test(arguments: [
        ("10.0.0.5:50051", "10.0.0.5", 50051, true),
        ("coordinator.handoff.svc.cluster.local:50051", "coordinator.handoff.svc.cluster.local", 50051, false),
        ("localhost:7470", "localhost", 7470, false),
        ("[::1]:9464", "::1", 9464, false),
        ("decode_0:1", "decode_0", 1, false),
    ])
    func parsesAddressesPeopleWrite(text: String, host: String, port: Int, ipv4: Bool) throws {
        let address = try HostPort(parsing: text)
        #expect(address.host == host && address.port == port && address.isIPv4Literal == ipv4)
        #expect(try HostPort(parsing: address.description) == address)
    }

    @Test(arguments: [
        "no-port", "host:", "host:0", "host:65536", "host:-1", "host:12a", ":7470", "::1:80", "[::1:80", "[]:80",
        "bad host:80", "a..b:80", "-\u{0}:80", String(repeating: "a", count: 64) + ":80",
        String(repeating: "a.", count: 200) + ":80",
    ])
    func refusesWhatIsNotAnAddress(text: String) {
        #expect(throws: HostPortError.self) { try HostPort(parsing: text) }
    }

    @Test func anEmptyHostAndPortZeroAreForListeners() throws {
        let listen = try HostPort(parsing: ":0", defaultHost: "0.0.0.0", allowsPortZero: true)
        #expect(listen == HostPort(host: "0.0.0.0", port: 0))
    }
}
