import CUCX

/// A failed UCX call: what we were doing, UCX's status code and UCX's own message for it.
public struct UCXError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What Handoff was doing, e.g. `ucp_mem_map(allocate 16777216 bytes)`.
    public var operation: String
    /// UCX's `ucs_status_t` value (negative).
    public var status: Int8
    /// `ucs_status_string` for the status.
    public var message: String

    init(operation: String, status: ucs_status_t) {
        self.operation = operation
        self.status = status.rawValue
        self.message = String(cString: ucs_status_string(status))
    }

    public var description: String { "UCX error in \(operation): \(message) (status \(status))" }
}

/// Turns a UCX status into a thrown `DataPlaneError.ucx` carrying what we were doing.
@inline(__always)
func ucxCheck(_ status: ucs_status_t, _ operation: @autoclosure () -> String) throws(DataPlaneError) {
    if status != UCS_OK { throw .ucx(UCXError(operation: operation(), status: status)) }
}
