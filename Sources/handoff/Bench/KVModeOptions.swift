import ArgumentParser
import HandoffCore

/// KV mode: a benchmark whose workload is a model's KV for one prompt instead of a synthetic shape.
struct KVModeOptions: ParsableArguments {
    @Option(
        help:
            "KV mode: derive layers, piece size and block count from this model preset (llama-3.1-8b, llama-3.1-70b, qwen2.5-7b, deepseek-v3, tiny) and --prompt-tokens, instead of --layers, --blocks and --block-kib."
    )
    var model: String?

    @Option(help: "KV mode: tokens of the prompt whose KV moves.")
    var promptTokens = 8192

    @Option(help: "KV mode: tokens per KV block (vLLM's block_size).")
    var blockTokens = 16

    func validate() throws {
        guard (1...(1 << 24)).contains(promptTokens), (1...(1 << 16)).contains(blockTokens) else {
            throw ValidationError("--prompt-tokens must be between 1 and 2^24, --block-tokens between 1 and 65536")
        }
        if let model { _ = try ModelPreset.named(model) }
    }

    /// The options as arguments for another process; none outside KV mode.
    var arguments: [String] {
        guard let model else { return [] }
        return ["--model", model, "--prompt-tokens", "\(promptTokens)", "--block-tokens", "\(blockTokens)"]
    }
}
