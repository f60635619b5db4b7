import Foundation

/// Text that came from a peer, made safe to print on a terminal: control characters (escape sequences could
/// rewrite the screen or the window title, a carriage return overwrite a line) and bidirectional overrides
/// become U+FFFD before any of it reaches the output.
public enum UntrustedText {
    /// `text` with every control character and bidirectional override replaced.
    public static func printable(_ text: some StringProtocol) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(isUnsafe(scalar) ? "\u{FFFD}" : scalar)
        }
        return String(scalars)
    }

    /// A line of JSON from a peer, with the same characters replaced inside its strings, raw or escaped
    /// (`\u001b`, `\r`): what it decodes to is printable.
    public static func printableJSON(_ json: some StringProtocol) -> String {
        let raw = printable(json)
        return escapedControl.stringByReplacingMatches(
            in: raw, range: NSRange(raw.startIndex..., in: raw), withTemplate: "\\\\ufffd")
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || (0x202A...0x202E).contains(scalar.value)
            || (0x2066...0x2069).contains(scalar.value)
    }

    /// JSON escapes of control characters and bidirectional overrides.
    private static let escapedControl = try! NSRegularExpression(
        pattern: #"\\(u00[0-1][0-9a-fA-F]|u00[89][0-9a-fA-F]|u007[fF]|u202[a-eA-E]|u206[6-9]|[bfnrt])"#)
}
