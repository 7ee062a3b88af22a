import ArgumentParser
import IOSim

/// Parsing of sizes and counts given on the command line. Every failure is a usage error
/// (`ValidationError`, exit 64) worded with the flag it came from.
enum Units {
    /// Bytes from `100KB`, `228KiB`, `1.5MB`, `4096` (bare = bytes). KB/MB/GB are powers of 1000,
    /// KiB/MiB/GiB powers of 1024, B is bytes; case-insensitive. The result must be a positive
    /// whole number of bytes, at most ``Limits/maxCapacityBytes``.
    static func bytes(_ text: String) throws(ValidationError) -> Int {
        let s = text.trimmedOfWhitespace()
        let units: [(String, Double)] = [
            ("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824),
            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("b", 1),
        ]
        var number = s.lowercased(), factor = 1.0
        for (suffix, f) in units where number.hasSuffix(suffix) {
            number = String(number.dropLast(suffix.count)).trimmedOfWhitespace()
            factor = f
            break
        }
        if number.hasPrefix("-") { throw ValidationError("a size must be positive, got '\(text)'") }
        guard let v = Double(number), v.isFinite, !number.isEmpty,
            number.allSatisfy({ $0.isNumber || $0 == "." })
        else {
            throw ValidationError("'\(text)' is not a size: use bytes (4096) or a unit B, KB, MB, GB, KiB, MiB, GiB (e.g. 100KB)")
        }
        let b = v * factor
        guard b >= 1, b == b.rounded() else {
            throw ValidationError("'\(text)' is not a positive whole number of bytes")
        }
        guard b <= Double(Limits.maxCapacityBytes) else {
            throw ValidationError("'\(text)' is above iosim's largest M, 1PiB = \(Limits.maxCapacityBytes) bytes")
        }
        return Int(b)
    }

    /// A count such as `4096`, `4K` (4·1024) or `1M` (1024²) given to `--<name>`, at most `limit`
    /// (default: the longest sequence, ``Limits/maxSequence``).
    static func count(_ text: String, name: String, limit: Int = Limits.maxSequence) throws(ValidationError) -> Int {
        var s = text.trimmedOfWhitespace().lowercased(), factor = 1
        if s.hasSuffix("k") { factor = 1024; s.removeLast() } else if s.hasSuffix("m") { factor = 1 << 20; s.removeLast() }
        let digits = s.hasPrefix("+") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let v = Int(s), v > 0 else {
            // Digits too many for Int64 are still a number, just above the limit.
            if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.contains(where: { $0 != "0" }) {
                throw ValidationError("--\(name) '\(text)' is above iosim's limit of \(limit)")
            }
            throw ValidationError("--\(name) must be a positive integer (optionally with K = 1024 or M = 1024²), got '\(text)'")
        }
        guard let n = Limits.product(v, factor), n <= limit else {
            throw ValidationError("--\(name) '\(text)' is above iosim's limit of \(limit)")
        }
        return n
    }

    /// A list of values: `a...b` (doubling from a while ≤ b, b always included), `a,b,c`, or one value.
    static func range<T>(
        _ text: String, _ parse: (String) throws(ValidationError) -> T,
        double: (T) -> T, less: (T, T) -> Bool
    ) throws(ValidationError) -> [T] {
        if text.contains("...") {
            let parts = text.splitting(on: "...")
            guard parts.count == 2 else { throw ValidationError("'\(text)' is not a range like 1K...64K") }
            let (lo, hi) = (try parse(parts[0]), try parse(parts[1]))
            guard !less(hi, lo) else { throw ValidationError("the range '\(text)' ends below where it starts") }
            var values = [lo], x = lo
            while true {
                x = double(x)
                guard less(x, hi) else { break }
                values.append(x)
            }
            if less(values.last!, hi) { values.append(hi) }
            return values
        }
        var out: [T] = []
        for part in text.split(separator: ",") { out.append(try parse(String(part))) }
        guard !out.isEmpty else { throw ValidationError("no values in '\(text)'") }
        return out
    }

    /// Counts of `--<name>`: a doubling range or a list (see ``range(_:_:double:less:)``).
    /// A token count as an option's value: an integer with an optional K (1024) or M (1024²)
    /// suffix, as `--N` takes (`--max-len 8K`). The sign is kept: the option's own check says
    /// what range it needs, in its own words.
    static func length(_ text: String) throws -> Int {
        var s = text.trimmedOfWhitespace().lowercased(), factor = 1
        if s.hasSuffix("k") { factor = 1024; s.removeLast() } else if s.hasSuffix("m") { factor = 1 << 20; s.removeLast() }
        let sign = s.hasPrefix("-") ? -1 : 1
        let digits = s.hasPrefix("-") || s.hasPrefix("+") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ValidationError("an integer, optionally with K = 1024 or M = 1024², is needed")
        }
        guard let v = Int(digits), let n = Limits.product(v, factor) else { throw ValidationError("above iosim's limit of \(Limits.maxSequence)") }
        return sign * n
    }

    static func counts(_ text: String, name: String) throws(ValidationError) -> [Int] {
        try range(text, { (s: String) throws(ValidationError) in try count(s, name: name) }, double: { $0 * 2 }, less: <)
    }

    /// Byte sizes: a doubling range or a list.
    static func sizes(_ text: String) throws(ValidationError) -> [Int] {
        try range(text, { (s: String) throws(ValidationError) in try bytes(s) }, double: { $0 * 2 }, less: <)
    }
}

extension String {
    /// Without leading and trailing whitespace (Unicode `isWhitespace`).
    fileprivate func trimmedOfWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// The pieces between occurrences of `sep` (all of them, empty ones included).
    fileprivate func splitting(on sep: String) -> [String] {
        var out: [String] = [], rest = Substring(self)
        while let r = rest.firstRange(of: sep) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
