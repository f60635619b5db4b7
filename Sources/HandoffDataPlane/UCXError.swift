/// A failed UCX call: what we were doing, UCX's status code and UCX's own message for it.
public struct UCXError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What Handoff was doing, e.g. `ucp_mem_map(allocate 16777216 bytes)`.
    public var operation: String
    /// UCX's `ucs_status_t` value (negative).
    public var status: Int8
    /// `ucs_status_string` for the status.
    public var message: String

    package init(operation: String, status: Int8, message: String) {
        self.operation = operation
        self.status = status
        self.message = message
    }

    public var description: String { "UCX error in \(operation): \(message) (status \(status))" }
}
