/// The diagnostics probe that `handoff topo --peer` sends to a data-plane port: a worker's native TCP port or
/// `handoff bench serve`.
///
/// The prober opens with `greeting`, a text line exactly as long as the native TCP hello, so that the TCP server
/// (which reads 32 bytes first) and `bench serve` (which reads lines) both recognise it. The peer answers one
/// line, `TOPOLOGY <json>` (its topology report) or `ERROR <why>`. Then, line by line: `PING <n>` is answered
/// `PONG <n>`; `STREAM <bytes>` (native TCP port only) with `STREAM <bytes>` and that many bytes; `QUIT` ends
/// the probe. Anything else gets `ERROR <why>` and the connection closes.
public enum DataPlaneProbe {
    /// `PROBE 1` padded with spaces to the native TCP hello's length, newline included.
    public static let greeting: [UInt8] = {
        let text = Array("PROBE 1".utf8)
        return text + [UInt8](repeating: UInt8(ascii: " "), count: TCPWire.helloBytes - text.count - 1) + [UInt8(ascii: "\n")]
    }()
    /// The greeting as a line reader returns it, trailing spaces removed.
    public static let greetingText = "PROBE 1"
    /// Round trips one probe may ask for.
    public static let maxPings = 1000
    /// Bytes one `STREAM` may ask for.
    public static let maxStreamBytes = 1 << 30
    /// Probes one port answers at once; more are refused as busy.
    public static let maxConcurrentProbes = 4
    /// The longest request line.
    public static let maxLineBytes = 64

    /// What a worker answers a probe with: one line of JSON, made when a probe arrives.
    public typealias Describe = @Sendable () -> String
}
