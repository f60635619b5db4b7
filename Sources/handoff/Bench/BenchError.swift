/// Why a benchmark could not run or could not be trusted.
enum BenchError: Error, CustomStringConvertible {
    case protocolViolation(expected: String, got: String)
    case peerFailed(String)
    case verificationFailed(String)
    case invalidOption(String)
    case sweepFailed(failed: Int, of: Int)

    var description: String {
        switch self {
        case let .protocolViolation(expected, got): "peer process sent '\(got)' where '\(expected)' was expected"
        case let .peerFailed(reason): "peer failed: \(reason)"
        case let .verificationFailed(reason): "verification failed: \(reason)"
        case let .invalidOption(reason): reason
        case let .sweepFailed(failed, total): "\(failed) of \(total) points failed (see above)"
        }
    }
}
