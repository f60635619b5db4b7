import CUCX
import HandoffDataPlane

extension UCXError {
    init(operation: String, status: ucs_status_t) {
        self.init(operation: operation, status: status.rawValue, message: String(cString: ucs_status_string(status)))
    }
}

/// Turns a UCX status into a thrown `DataPlaneError.ucx` carrying what we were doing.
@inline(__always)
func ucxCheck(_ status: ucs_status_t, _ operation: @autoclosure () -> String) throws(DataPlaneError) {
    if status != UCS_OK { throw .ucx(UCXError(operation: operation(), status: status)) }
}
