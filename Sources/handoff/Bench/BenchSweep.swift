import Foundation

/// Runs a benchmark's points one after another and prints them. One point prints as a summary or one JSON
/// object. A sweep prints a table row per point as it finishes, under a progress bar, or a JSON array at the
/// end, or CSV rows. A failed point is reported and the sweep goes on; the sweep then fails at the end.
struct BenchSweep {
    enum Format {
        /// The summary for one point, a table for a sweep.
        case text
        case json
        case csv
    }

    let points: [BenchInitiator]
    let format: Format

    /// Measures each point with `measure` and prints the results.
    func run(_ measure: (BenchInitiator) async throws -> BenchResult) async throws {
        guard points.count > 1 else {
            let result = try await measure(points[0])
            switch format {
            case .text: print(result.summary)
            case .json: print(try result.json())
            case .csv: print(BenchResult.csvHeader + "\n" + result.csvRow)
            }
            return
        }
        var progress = ProgressBar(total: points.count)
        var results: [BenchResult] = []
        var failures: [String] = []
        switch format {
        case .text: progress.printAbove(BenchResult.tableHeader)
        case .csv: progress.printAbove(BenchResult.csvHeader)
        case .json: break
        }
        progress.update(done: 0, note: "points")
        for (index, point) in points.enumerated() {
            do {
                let result = try await measure(point)
                results.append(result)
                switch format {
                case .text: progress.printAbove(result.tableRow)
                case .csv: progress.printAbove(result.csvRow)
                case .json: break
                }
            } catch {
                failures.append("point \(index + 1) (\(point.label)): \(error)")
                progress.printErrorAbove(failures[failures.count - 1])
            }
            progress.update(done: index + 1, note: "points" + (failures.isEmpty ? "" : ", \(failures.count) failed"))
        }
        if format == .json {
            print("[\n" + (try results.map { try $0.json() }).joined(separator: ",\n") + "\n]")
        }
        guard failures.isEmpty else {
            throw BenchError.sweepFailed(failed: failures.count, of: points.count)
        }
    }
}

extension BenchInitiator {
    /// The point in a few words, for errors: `tcp read scattered 32 layers × 256 blocks × 32 KiB, window 128`.
    var label: String {
        let shape =
            options.kvMode.model.map { "\($0) \(options.kvMode.promptTokens) tokens" }
            ?? "\(options.layers) layers × \(options.blocks) blocks × \(BenchResult.size(options.blockKiB * 1024))"
        return
            "\(options.transport.rawValue) \(operation.rawValue) \(options.pattern.rawValue) \(shape), window \(transferOptions.maxOutstandingOps)"
    }
}
