/// Why a topology could not be read.
public enum TopologyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An hwloc call failed (`operation` names it).
    case hwloc(operation: String, errno: Int32)
    /// A recorded topology file could not be read.
    case unreadableFile(path: String, reason: String)
    /// The file is neither an hwloc XML nor a `handoff topo --json` export, or is a malformed one.
    case unsupportedFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .hwloc(let operation, let errno): "hwloc failed in \(operation) (errno \(errno))"
        case .unreadableFile(let path, let reason): "cannot read \(path): \(reason)"
        case .unsupportedFile(let path, let reason): "\(path) is not a topology handoff can read: \(reason)"
        }
    }
}
