import Foundation
import Glibc

/// A one-line progress bar on standard error, redrawn in place on a terminal and printed every 10% otherwise.
struct ProgressBar {
    let total: Int
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastDecile = -1
    private var line = ""

    init(total: Int) { self.total = total }

    /// Redraws the bar: `[####......] done/total note`.
    mutating func update(done: Int, note: String) {
        let width = 30
        let filled = total > 0 ? width * min(done, total) / total : width
        line =
            "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            + "] \(done)/\(total) \(note)"
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done == total ? "\n" : "")).utf8))
        } else {
            let decile = total > 0 ? 10 * done / total : 10
            if decile != lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }
    }

    /// Prints `text` on standard output above the bar: on a terminal the bar is wiped first and drawn again after.
    func printAbove(_ text: String) { write(text, to: .standardOutput) }

    /// Prints `text` on standard error above the bar.
    func printErrorAbove(_ text: String) { write(text, to: .standardError) }

    private func write(_ text: String, to handle: FileHandle) {
        let drawn = isTerminal && !line.isEmpty
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        handle.write(Data((text + "\n").utf8))
        if drawn { FileHandle.standardError.write(Data(("\r" + line).utf8)) }
    }
}
