// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The exported functions carry the C API's names (handoff.h), which are snake_case.

import CHandoff
import Glibc
import HandoffControlProtocol
import HandoffCore

@_cdecl("handoff_api_version")
public func handoff_api_version() -> Int32 { HANDOFF_API_VERSION }

@_cdecl("handoff_string_free")
public func handoff_string_free(_ string: UnsafeMutablePointer<CChar>?) { free(string) }

@_cdecl("handoff_bytes_free")
public func handoff_bytes_free(_ bytes: UnsafeMutablePointer<UInt8>?) { free(bytes) }

@_cdecl("handoff_layout_check")
public func handoff_layout_check(_ layout: UnsafeMutablePointer<handoff_layout>?, _ error: CErrorOut) -> handoff_status
{
    exported(error) { () throws(CFailure) in
        let checked = try KVLayout(UnsafePointer(layout))
        layout?.pointee.region_bytes = UInt64(checked.regionBytes)
        return HANDOFF_OK
    }
}

@_cdecl("handoff_engine_layout_resolve")
public func handoff_engine_layout_resolve(
    _ engine: UnsafePointer<handoff_engine_layout>?, _ out: UnsafeMutablePointer<handoff_layout>?, _ error: CErrorOut
) -> handoff_status {
    exported(error) { () throws(CFailure) in
        guard let out else { throw .invalidArgument("a NULL out layout") }
        let spec = try KVLayoutSpec(engine)
        do throws(KVModelError) {
            out.pointee = try spec.layout().cLayout
        } catch {
            throw CFailure(error)
        }
        return HANDOFF_OK
    }
}
