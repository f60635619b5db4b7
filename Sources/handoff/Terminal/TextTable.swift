/// Columns of text aligned by the widest cell, for terminal reports. Cells may carry ANSI colour codes, which
/// take no width.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    init(_ header: [String]) { self.header = header }

    mutating func add(_ row: [String]) { rows.append(row) }

    /// The table's lines, indented by `indent` spaces, the header dimmed by `style`.
    func lines(indent: Int = 2, style: TerminalStyle) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { Self.visibleWidth($0[safe: column] ?? "") }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { column, cell in
                column == cells.count - 1
                    ? cell : cell + String(repeating: " ", count: widths[column] - Self.visibleWidth(cell))
            }
            return String(repeating: " ", count: indent) + padded.joined(separator: "  ")
        }
        return [style.dim(line(header))] + rows.map(line)
    }

    private static func visibleWidth(_ text: String) -> Int {
        var width = 0
        var inEscape = false
        for character in text {
            if inEscape {
                if character == "m" { inEscape = false }
            } else if character == "\u{1B}" {
                inEscape = true
            } else {
                width += 1
            }
        }
        return width
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
