/// The diagnostics probe that `handoff topo --peer` sends to a data-plane port: a worker's native TCP port or
/// `handoff bench serve`.
///
/// The prober opens with `greeting`, a text line exactly as long as the native TCP hello, so that the TCP server
/// (which reads 32 bytes first) and `bench serve` (which reads lines) both recognise it. The peer answers one
/// line, `TOPOLOGY <json>` (its topology report) or `ERROR <why>`. Then, line by line: `PING <n>` is answered
/// `PONG <n>`; `STREAM <bytes>` (native TCP port only) with `STREAM <bytes>` and that many bytes; `QUIT` ends
/// the probe. Anything else, or going past a limit below, gets `ERROR <why>` and the connection closes.
public enum DataPlaneProbe {
    /// `PROBE 1` padded with spaces to the native TCP hello's length, newline included.
    public static let greeting: [UInt8] = {
        let text = Array("PROBE 1".utf8)
        return text + [UInt8](repeating: UInt8(ascii: " "), count: TCPWire.helloBytes - text.count - 1) + [
            UInt8(ascii: "\n")
        ]
    }()
    /// The greeting without its padding and newline.
    public static let greetingText = "PROBE 1"
    /// Round trips one probe may ask for.
    public static let maxPings = 1000
    /// Bytes one probe may ask to be streamed, in all its `STREAM`s together.
    public static let maxStreamBytes = 1 << 30
    /// The longest request line.
    public static let maxLineBytes = 64
    /// Probes one port answers at once; more are refused as busy.
    public static let maxConcurrentProbes = 4
    /// How long one probe may last, and how long the prober may stay silent or stop reading.
    public static let sessionLimit: Duration = .seconds(60)
    public static let idleLimit: Duration = .seconds(10)

    /// Makes the line of JSON a probe is answered with, when one arrives; nil when the node cannot be described.
    public typealias AnswerProvider = @Sendable () -> String?

    /// One line a prober sends after the answer.
    enum Request: Equatable {
        case quit
        /// `PING <token>`: answered `PONG <token>`.
        case ping(String)
        /// `STREAM <bytes>`: that many bytes, 1 to what the probe has left.
        case stream(Int)

        struct Refusal: Error, Equatable {
            var reason: String
        }

        /// Parses `line` (without its newline), given the bytes the probe may still have streamed.
        static func parse(_ line: String, streamBytesLeft: Int) -> Result<Request, Refusal> {
            let words = line.split(separator: " ", omittingEmptySubsequences: false)
            switch (words.first, words.count) {
            case ("QUIT", 1):
                return .success(.quit)
            case ("PING", 2):
                return .success(.ping(String(words[1])))
            case ("STREAM", 2):
                guard let bytes = Int(words[1]), bytes >= 1, bytes <= streamBytesLeft else {
                    return .failure(
                        Refusal(
                            reason:
                                "STREAM takes 1 to \(streamBytesLeft) bytes (\(DataPlaneProbe.maxStreamBytes) per probe)"
                        ))
                }
                return .success(.stream(bytes))
            default:
                return .failure(
                    Refusal(reason: "expected PING <n>, STREAM <bytes> or QUIT, got \"\(line.prefix(40))\""))
            }
        }
    }
}
