/// The hash two workers must share to be paired: protocol version, model, dtype, KV heads, head dim, layers,
/// block size and arrangement. The pool size is not part of it.
///
/// FNV-1a (64-bit) over a canonical text, written as 16 hex digits; workers compute it and the coordinator
/// recomputes it from the declared spec, refusing a registration whose hash disagrees.
public enum CompatibilityHash {
    /// Bumped whenever two versions of Handoff can no longer exchange KV.
    public static let protocolVersion = 1

    /// The canonical text the hash is taken over.
    public static func canonicalText(of spec: KVLayoutSpec) -> String {
        [
            "handoff/\(protocolVersion)", "model=\(spec.model.lowercased())", "dtype_bytes=\(spec.dtypeBytes)",
            "kv_heads=\(spec.kvHeads)", "head_dim=\(spec.headDim)", "layers=\(spec.layers)",
            "kinds=\(spec.kindsPerBlock)", "block_tokens=\(spec.blockTokens)",
            "arrangement=\(spec.arrangement.rawValue)",
        ].joined(separator: ";")
    }

    /// The hash of `spec`, as 16 lowercase hex digits.
    public static func of(_ spec: KVLayoutSpec) -> String {
        let hash = fnv1a(canonicalText(of: spec))
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// FNV-1a, 64-bit, of `text`'s UTF-8 bytes.
    package static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
