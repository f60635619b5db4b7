// libFuzzer entry point for the native TCP data plane's frame decoder (Sources/HandoffDataPlane/TCP/TCPWire.swift).
// Built and run by scripts/fuzz-tcp-wire.sh, which compiles it with TCPWire.swift and HandoffCore's coding types
// into one module. The decoder must turn any bytes into a frame or a WireFormatError: never crash, never trap on
// arithmetic, never allocate more than the limits allow.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTCPWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let selector = bytes.first else { return 0 }
    let body = Array(bytes.dropFirst())
    switch selector % 4 {
    case 0:
        if let hello = try? TCPWire.decodeHello(body) {
            precondition(TCPWire.decodeHelloRoundTrip(hello))
        }
    case 1:
        if let header = try? TCPWire.decodeRequestHeader(Array(body.prefix(TCPWire.requestHeaderBytes))) {
            precondition(header.rangeCount <= TCPWire.maxRanges && header.payloadBytes <= TCPWire.maxPayloadBytes)
            let rangeBytes = Array(body.dropFirst(TCPWire.requestHeaderBytes))
            if let ranges = try? TCPWire.decodeRanges(
                rangeBytes, count: header.rangeCount, payloadBytes: header.payloadBytes)
            {
                precondition(ranges.count == header.rangeCount && ranges.allSatisfy { $0.length > 0 })
                precondition(ranges.reduce(0) { $0 + $1.length } == header.payloadBytes)
            }
        }
    case 2:
        if let response = try? TCPWire.decodeResponse(body) {
            precondition(
                response.messageBytes <= TCPWire.maxMessageBytes && response.payloadBytes <= TCPWire.maxPayloadBytes)
        }
    default:
        _ = TCPEndpoints.decode(body)
    }
    return 0
}

extension TCPWire {
    static func decodeHelloRoundTrip(_ hello: Hello) -> Bool { (try? decodeHello(encode(hello))) == hello }
}
