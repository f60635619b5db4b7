/// Why `handoff topo` could not produce a report at all (as opposed to a report with error findings).
enum TopoFailure: Error, CustomStringConvertible {
    /// The exit status when no report could be made: apart from 1, an error finding.
    static let exitCode: Int32 = 2

    /// The coordinator could not be asked (no token, a malformed address) or did not answer ListWorkers.
    case coordinatorUnreachable(address: String, reason: String)

    var description: String {
        switch self {
        case .coordinatorUnreachable(let address, let reason):
            "cannot list the workers of the coordinator at \(address): \(reason). Check the address, the token, and that "
                + "its port is open from here."
        }
    }
}
