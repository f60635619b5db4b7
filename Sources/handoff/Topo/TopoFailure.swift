/// Why `handoff topo` could not produce a report at all (as opposed to a report with error findings).
enum TopoFailure: Error, CustomStringConvertible {
    /// The coordinator did not answer ListWorkers.
    case coordinatorUnreachable(address: String, reason: String)

    var description: String {
        switch self {
        case let .coordinatorUnreachable(address, reason):
            "cannot list the workers of the coordinator at \(address): \(reason). Check the address, the token, and that "
                + "its port is open from here."
        }
    }
}
