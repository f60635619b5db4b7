import Foundation

/// KV mode of `handoff bench`: what moving one prompt's KV adds to its time to first token, at the measured rate
/// and at line rate.
struct TTFTEstimate: Codable {
    /// The line rates compared against, in Gb/s.
    static let lineRatesGbps = [100, 200, 400]

    var model: String
    var promptTokens: Int
    var blockTokens: Int
    /// Blocks the prompt fills (the last one partly).
    var blocks: Int
    /// The prompt's KV: prompt tokens × the model's bytes per token.
    var kvBytes: Int
    /// What moves: whole blocks (the last one partly filled), as engines move them.
    var movedBytes: Int
    /// The measured transfer (median), in milliseconds: what KV transfer adds to TTFT at this rate.
    var measuredMs: Double
    /// What the moved bytes would add at each line rate, in milliseconds, keyed by Gb/s.
    var lineRateMs: [String: Double]

    enum CodingKeys: String, CodingKey {
        case model
        case promptTokens = "prompt_tokens"
        case blockTokens = "block_tokens"
        case blocks
        case kvBytes = "kv_bytes"
        case movedBytes = "moved_bytes"
        case measuredMs = "measured_ms"
        case lineRateMs = "line_rate_ms"
    }

    init(
        model: String, promptTokens: Int, blockTokens: Int, blocks: Int, bytesPerToken: Int, movedBytes: Int,
        measuredSeconds: Double
    ) {
        self.model = model
        self.promptTokens = promptTokens
        self.blockTokens = blockTokens
        self.blocks = blocks
        kvBytes = promptTokens * bytesPerToken
        self.movedBytes = movedBytes
        measuredMs = measuredSeconds * 1000
        lineRateMs = Dictionary(
            uniqueKeysWithValues: Self.lineRatesGbps.map {
                ("\($0)", Double(movedBytes) * 8 / (Double($0) * 1e9) * 1000)
            })
    }

    /// Two lines for the terminal summary.
    var summary: String {
        let gib = Double(kvBytes) / Double(1 << 30)
        let lineRates = Self.lineRatesGbps.map { String(format: "%d Gb/s %.1f ms", $0, lineRateMs["\($0)"] ?? 0) }
        return String(
            format: "  KV        %@, %d tokens: %.2f GiB (%d blocks of %d tokens)\n", model, promptTokens, gib, blocks,
            blockTokens)
            + String(format: "  TTFT      +%.1f ms at the measured rate; at line rate: ", measuredMs)
            + lineRates.joined(separator: ", ")
    }
}
