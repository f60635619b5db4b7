import Foundation
import Glibc

/// A one-line progress bar on standard error, redrawn in place on a terminal and printed every 10% otherwise.
struct ProgressBar {
    let total: Int
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastDecile = -1

    init(total: Int) { self.total = total }

    mutating func update(done: Int, failed: Int) {
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total) finished, \(failed) failed"
        if isTerminal {
            FileHandle.standardError.write(Data(("\r" + line + (done == total ? "\n" : "")).utf8))
        } else {
            let decile = total > 0 ? 10 * done / total : 10
            if decile != lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }
    }
}
