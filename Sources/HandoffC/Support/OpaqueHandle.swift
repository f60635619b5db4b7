import CHandoff

/// Swift objects handed to C as opaque pointers: retained when handed out, released by the matching free call.
enum OpaqueHandle {
    /// A +1 reference to `object`, for an `out` parameter.
    static func retain(_ object: AnyObject) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(object).toOpaque())
    }

    /// The object behind a handle the caller still owns.
    /// - Throws: `CFailure` with `HANDOFF_E_INVALID_ARGUMENT` for a NULL handle.
    static func borrow<Object: AnyObject>(_ handle: OpaquePointer?, as type: Object.Type) throws(CFailure) -> Object {
        guard let handle else { throw .invalidArgument("a NULL \(type) handle") }
        return Unmanaged<Object>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// The object behind a handle the caller gives up; nil for NULL.
    static func take<Object: AnyObject>(_ handle: OpaquePointer?, as type: Object.Type) -> Object? {
        guard let handle else { return nil }
        return Unmanaged<Object>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
    }
}
