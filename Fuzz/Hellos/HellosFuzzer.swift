// libFuzzer entry point for the first things a stranger sends Handoff's data-plane and benchmark ports: the native
// TCP hello (Sources/HandoffDataPlane/TCP/TCPWire.swift), a topology probe's request lines (DataPlaneProbe.Request)
// and `handoff bench serve`'s hello line (Sources/handoff/Bench/BenchHello.swift). Built and run by
// scripts/fuzz.sh hellos. Any bytes must decode to a value within its limits or give a typed error: never crash.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHellos(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if bytes.count >= TCPWire.helloBytes {
        // A hello that decodes says what its bytes say (bytes 6 and 7 are reserved, ignored and written 0).
        let first = Array(bytes.prefix(TCPWire.helloBytes))
        if let hello = try? TCPWire.decodeHello(first) {
            var expected = first
            expected[6] = 0
            expected[7] = 0
            precondition(TCPWire.encode(hello) == expected)
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
    if let hello = try? BenchHello.decode(text) { precondition(hello.version == BenchHello.currentVersion) }
    let streamBytesLeft = Int(bytes.first ?? 0) << 20
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(64) {
        if case .success(.stream(let requested)) = DataPlaneProbe.Request.parse(
            String(line), streamBytesLeft: streamBytesLeft)
        {
            precondition(requested >= 1 && requested <= streamBytesLeft)
        }
    }
    return 0
}
