/// The attention shape of a model, which decides what one token leaves in the KV cache.
public enum AttentionKind: Sendable, Hashable, Codable {
    /// Multi-head or grouped-query attention: a K and a V vector per KV head, per layer.
    case multiHead(kvHeads: Int, headDim: Int)
    /// Multi-head latent attention (DeepSeek): one compressed latent per token and layer, no K/V split.
    case latent(width: Int)
}

/// A model's KV-cache shape: enough to size and lay out its cache, nothing about its weights.
public struct ModelPreset: Sendable, Hashable, Codable {
    /// The preset's name, as given on the command line (`llama-3.1-8b`).
    public var name: String
    /// Number of transformer layers, each with its own KV tensor.
    public var layers: Int
    /// What one token stores per layer.
    public var attention: AttentionKind
    /// Bytes per element (2 for bf16 and fp16).
    public var dtypeBytes: Int

    public init(name: String, layers: Int, attention: AttentionKind, dtypeBytes: Int) {
        self.name = name
        self.layers = layers
        self.attention = attention
        self.dtypeBytes = dtypeBytes
    }

    /// How many separately laid out pieces one block holds per layer: 2 (K and V) or 1 (an MLA latent).
    public var kindsPerBlock: Int {
        switch attention {
        case .multiHead: 2
        case .latent: 1
        }
    }

    /// Bytes one token occupies in one layer for one kind (K, V or latent).
    public var bytesPerTokenPerKind: Int {
        switch attention {
        case .multiHead(let kvHeads, let headDim): kvHeads * headDim * dtypeBytes
        case .latent(let width): width * dtypeBytes
        }
    }

    /// Bytes one token occupies in the whole KV cache (all layers, K and V).
    public var bytesPerToken: Int { layers * kindsPerBlock * bytesPerTokenPerKind }

    /// The block geometry of this model's cache with `blockTokens` tokens per block.
    public func geometry(blockTokens: Int = KVGeometry.defaultBlockTokens) -> KVGeometry {
        KVGeometry(layers: layers, kindsPerBlock: kindsPerBlock, pieceBytes: blockTokens * bytesPerTokenPerKind)
    }

    /// Llama 3.1 8B: 32 layers, 8 KV heads of 128, bf16 — 128 KiB per token.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let llama31_8B = ModelPreset(
        name: "llama-3.1-8b", layers: 32, attention: .multiHead(kvHeads: 8, headDim: 128), dtypeBytes: 2)
    /// Llama 3.1 70B: 80 layers, 8 KV heads of 128, bf16 — 320 KiB per token.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let llama31_70B = ModelPreset(
        name: "llama-3.1-70b", layers: 80, attention: .multiHead(kvHeads: 8, headDim: 128), dtypeBytes: 2)
    /// Qwen2.5 7B: 28 layers, 4 KV heads of 128, bf16 — 56 KiB per token.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let qwen25_7B = ModelPreset(
        name: "qwen2.5-7b", layers: 28, attention: .multiHead(kvHeads: 4, headDim: 128), dtypeBytes: 2)
    /// DeepSeek V3 (MLA): 61 layers, one 576-wide latent (512 + 64 rope) per token, bf16 — 70,272 bytes per token.
    public static let deepseekV3 = ModelPreset(
        name: "deepseek-v3", layers: 61, attention: .latent(width: 576), dtypeBytes: 2)
    /// A small model for tests: 2 layers, 2 KV heads of 8, bf16 — 128 bytes per token.
    public static let tiny = ModelPreset(
        name: "tiny", layers: 2, attention: .multiHead(kvHeads: 2, headDim: 8), dtypeBytes: 2)

    /// Every built-in preset.
    public static let all: [ModelPreset] = [llama31_8B, llama31_70B, qwen25_7B, deepseekV3, tiny]

    /// The built-in preset called `name`.
    /// - Throws: `KVModelError.unknownPreset` listing the names that exist.
    public static func named(_ name: String) throws(KVModelError) -> ModelPreset {
        guard let preset = all.first(where: { $0.name == name.lowercased() }) else {
            throw .unknownPreset(name, known: all.map(\.name))
        }
        return preset
    }
}
