/// Text from a user's files (a kernel name in a Nsight CSV, a model's name, a path) made safe to
/// echo on a terminal: control characters — C0 (tab, newline, escape …), DEL, C1 — and the
/// bidirectional overrides that reorder what a reader sees become visible escapes such as `\u{1B}`,
/// so an input can neither move the cursor, recolour the terminal nor split a one-line error in two.
public enum TerminalText {
    /// `text` with every control or bidirectional-override scalar written as `\u{XX}`.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var out = ""
        for s in text.unicodeScalars {
            if isUnsafe(s) {
                out += "\\u{" + String(s.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }

    /// Control characters (Unicode category Cc) and the explicit bidi embeddings, overrides and
    /// isolates (U+202A…U+202E, U+2066…U+2069), which can make a line read differently than it is.
    package static func isUnsafe(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7F...0x9F).contains(s.value) || (0x202A...0x202E).contains(s.value)
            || (0x2066...0x2069).contains(s.value)
    }
}
