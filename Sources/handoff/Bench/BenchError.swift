/// Why a benchmark could not run or could not be trusted.
enum BenchError: Error, CustomStringConvertible {
    case protocolViolation(expected: String, got: String)
    case peerFailed(String)
    case verificationFailed(String)
    case invalidOption(String)
    case sweepFailed(failed: Int, of: Int)

    var description: String {
        switch self {
        case .protocolViolation(let expected, let got): "peer process sent '\(got)' where '\(expected)' was expected"
        case .peerFailed(let reason): "peer failed: \(reason)"
        case .verificationFailed(let reason): "verification failed: \(reason)"
        case .invalidOption(let reason): reason
        case .sweepFailed(let failed, let total): "\(failed) of \(total) points failed (see above)"
        }
    }
}
