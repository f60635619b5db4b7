import HandoffCore
import Testing

@Suite("Model presets and layouts")
struct ModelPresetTests {
    @Test(
        "bytes per token match the published KV sizes",
        arguments: [
            ("llama-3.1-8b", 131_072), ("llama-3.1-70b", 327_680), ("qwen2.5-7b", 57_344), ("deepseek-v3", 70_272),
            ("tiny", 128),
        ])
    func bytesPerToken(name: String, expected: Int) throws {
        let preset = try ModelPreset.named(name)
        #expect(preset.bytesPerToken == expected)
        let geometry = preset.geometry(blockTokens: 16)
        #expect(geometry.blockBytes == 16 * expected)
    }

    @Test("an MLA model has one latent piece per block and layer")
    func latentGeometry() {
        let geometry = ModelPreset.deepseekV3.geometry()
        #expect(geometry.kindsPerBlock == 1)
        #expect(geometry.pieceBytes == 16 * 576 * 2)
    }

    @Test("an unknown preset names the known ones")
    func unknownPreset() {
        #expect(throws: KVModelError.unknownPreset("gpt-9", known: ModelPreset.all.map(\.name))) {
            try ModelPreset.named("gpt-9")
        }
    }

    @Test("split keeps K blocks before V blocks; fused puts K and V of a block side by side")
    func arrangements() throws {
        let geometry = KVGeometry(layers: 2, kindsPerBlock: 2, pieceBytes: 100)
        let split = try KVLayout(geometry: geometry, numBlocks: 10, arrangement: .split)
        let fused = try KVLayout(geometry: geometry, numBlocks: 10, arrangement: .fused)
        #expect(split.regionBytes == 2_000 && fused.regionBytes == 2_000)
        #expect(split.offset(kind: 0, block: 3) == 300)
        #expect(split.offset(kind: 1, block: 3) == 1_300)
        #expect(fused.offset(kind: 0, block: 3) == 600)
        #expect(fused.offset(kind: 1, block: 3) == 700)
        #expect(split.totalBytes == 4_000)
    }

    @Test("a layout rejects dimensions that are not positive")
    func invalidLayouts() {
        #expect(throws: KVModelError.self) {
            try KVLayout(geometry: KVGeometry(layers: 0, kindsPerBlock: 2, pieceBytes: 8), numBlocks: 1)
        }
        #expect(throws: KVModelError.self) {
            try KVLayout(geometry: KVGeometry(layers: 1, kindsPerBlock: 3, pieceBytes: 8), numBlocks: 1)
        }
        #expect(throws: KVModelError.self) {
            try KVLayout(geometry: KVGeometry(layers: 1, kindsPerBlock: 2, pieceBytes: 0), numBlocks: 1)
        }
        #expect(throws: KVModelError.self) { try KVLayout(geometry: ModelPreset.tiny.geometry(), numBlocks: 0) }
    }
}
