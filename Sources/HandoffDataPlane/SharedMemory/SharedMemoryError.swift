import Glibc

/// Why memory could not be shared or a peer's shared memory could not be mapped.
enum SharedMemoryError: Error, CustomStringConvertible {
    /// A system call failed: its name and errno.
    case system(String, Int32)
    /// The memory or the peer's descriptor does not qualify, and why.
    case refused(String)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        case .refused(let reason): reason
        }
    }
}
