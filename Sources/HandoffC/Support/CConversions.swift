import CHandoff
import Foundation
import HandoffControlProtocol
import HandoffCore
import HandoffDataPlane
import HandoffUCX

/// The most block ids or ranges one call may pass.
let maxListLength = 1 << 24

extension KVArrangement {
    init(_ value: UInt32) throws(CFailure) {
        switch value {
        case UInt32(HANDOFF_SPLIT.rawValue): self = .split
        case UInt32(HANDOFF_FUSED.rawValue): self = .fused
        default: throw .invalidArgument("arrangement \(value) is neither HANDOFF_SPLIT nor HANDOFF_FUSED")
        }
    }

    var cValue: UInt32 { self == .split ? UInt32(HANDOFF_SPLIT.rawValue) : UInt32(HANDOFF_FUSED.rawValue) }
}

extension TransferOperation {
    init(_ value: handoff_operation) throws(CFailure) {
        switch value {
        case HANDOFF_READ: self = .read
        case HANDOFF_WRITE: self = .write
        default: throw .invalidArgument("operation \(value.rawValue) is neither HANDOFF_READ nor HANDOFF_WRITE")
        }
    }
}

extension KVLayout {
    /// The layout a C caller describes.
    init(_ layout: UnsafePointer<handoff_layout>?) throws(CFailure) {
        guard let layout = layout?.pointee else { throw .invalidArgument("a NULL layout") }
        let pieceBytes = try cInt(layout.piece_bytes, "piece_bytes")
        let numBlocks = try cInt(layout.num_blocks, "num_blocks")
        let arrangement = try KVArrangement(layout.arrangement)
        do throws(KVModelError) {
            self = try KVLayout(
                geometry: KVGeometry(
                    layers: Int(layout.layers), kindsPerBlock: Int(layout.kinds_per_block), pieceBytes: pieceBytes),
                numBlocks: numBlocks, arrangement: arrangement)
        } catch {
            throw CFailure(error)
        }
        try checkSize()
    }

    /// Refuses a layout whose pool size overflows or exceeds 2^56 bytes.
    func checkSize() throws(CFailure) {
        var bytes = geometry.pieceBytes
        for factor in [geometry.kindsPerBlock, numBlocks, geometry.layers] {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: factor)
            guard !overflow, product <= 1 << 56 else {
                throw CFailure(HANDOFF_E_LAYOUT, "the pool would exceed 2^56 bytes")
            }
            bytes = product
        }
    }

    /// The C form, region size included.
    var cLayout: handoff_layout {
        handoff_layout(
            layers: UInt32(clamping: geometry.layers), kinds_per_block: UInt32(clamping: geometry.kindsPerBlock),
            piece_bytes: UInt64(geometry.pieceBytes), num_blocks: UInt64(numBlocks), arrangement: arrangement.cValue,
            region_bytes: UInt64(regionBytes))
    }
}

extension KVLayoutSpec {
    /// An engine's description of its KV cache.
    init(_ engine: UnsafePointer<handoff_engine_layout>?) throws(CFailure) {
        guard let engine = engine?.pointee else { throw .invalidArgument("a NULL engine layout") }
        guard let model = engine.model.map({ String(cString: $0) }), !model.isEmpty else {
            throw .invalidArgument("the engine layout names no model")
        }
        let numBlocks = try cInt(engine.num_blocks, "num_blocks")
        let arrangement = try KVArrangement(engine.arrangement)
        do throws(KVModelError) {
            self = try KVLayoutSpec(
                engineModel: model, layers: Int(engine.layers), kvHeads: Int(engine.kv_heads),
                headDim: Int(engine.head_dim), dtypeBytes: Int(engine.dtype_bytes),
                blockTokens: Int(engine.block_tokens),
                numBlocks: numBlocks, arrangement: arrangement, kindsPerBlock: Int(engine.kinds_per_block))
        } catch {
            throw CFailure(error)
        }
    }
}

/// A C unsigned count as an `Int`.
func cInt(_ value: UInt64, _ name: String) throws(CFailure) -> Int {
    guard value <= UInt64(Int.max) else { throw .invalidArgument("\(name) \(value) is too large") }
    return Int(value)
}

/// A C string argument, nil for NULL.
func cString(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }

/// A comma-separated C string as a list; nil for NULL or empty.
func cList(_ pointer: UnsafePointer<CChar>?) -> [String]? {
    guard let text = cString(pointer), !text.isEmpty else { return nil }
    return text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// `count` block ids from C.
func cBlocks(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ name: String) throws(CFailure) -> [Int] {
    guard count <= maxListLength else { throw .invalidArgument("\(count) \(name) exceed \(maxListLength)") }
    guard count > 0 else { return [] }
    guard let pointer else { throw .invalidArgument("\(name) is NULL but count is \(count)") }
    return UnsafeBufferPointer(start: pointer, count: count).map { Int($0) }
}

/// Copies `text` into a fixed C char array, truncated and NUL-terminated.
func copyCString<Field>(_ text: String, into field: inout Field) {
    withUnsafeMutableBytes(of: &field) { buffer in
        let bytes = Array(text.utf8.prefix(buffer.count - 1))
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
    }
}

extension handoff_report {
    /// The C form of a data-plane report.
    init(_ report: TransferReport) {
        self.init()
        operation = report.operation == .read ? UInt32(HANDOFF_READ.rawValue) : UInt32(HANDOFF_WRITE.rawValue)
        bytes = UInt64(report.bytes)
        ops = UInt64(report.ops)
        pieces = UInt64(report.pieces)
        post_seconds = report.postSeconds
        completion_seconds = report.completionSeconds
        op_latency_p50_us = report.opLatency.p50
        op_latency_p99_us = report.opLatency.p99
        copyCString(report.transport, into: &transport)
        copyCString(report.lowerTransports.joined(separator: ","), into: &lanes)
        copyCString(report.fallback?.rawValue ?? "", into: &fallback)
    }

    /// The C form of a pull's figures as the connector runtime reports them.
    init(_ stats: TransferStats) {
        self.init()
        operation = UInt32(HANDOFF_READ.rawValue)
        bytes = UInt64(clamping: stats.bytes)
        ops = UInt64(clamping: stats.ops)
        pieces = UInt64(clamping: stats.descriptors)
        post_seconds = stats.postSeconds
        completion_seconds = stats.completionSeconds
        copyCString(stats.transport, into: &transport)
        copyCString(stats.lowerTransports.joined(separator: ","), into: &lanes)
        copyCString(stats.fallback, into: &fallback)
    }
}
