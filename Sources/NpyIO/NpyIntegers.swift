/// Integer and bool `.npy` arrays (block masks): NumPy's `|b1`, `|i1`, `|u1`, `<i2`, `<u2`, `<i4`,
/// `<u4`, `<i8`, `<u8` (also with `=`), read as Int64 values with their shape.
public struct NpyIntegers: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Int64]
    /// The file held bools (`|b1`).
    public var isBool: Bool

    /// Parses a whole file's bytes, every size checked before anything is allocated.
    public static func decode(_ bytes: [UInt8]) throws(NpyError) -> NpyIntegers {
        guard bytes.count >= 8, Array(bytes[0..<6]) == Npy.magic else { throw .badMagic }
        let lengthBytes = try Npy.lengthFieldBytes(major: bytes[6], minor: bytes[7])
        guard let dataStart = try Npy.headerEnd(bytes), bytes.count >= dataStart else {
            throw .truncated(expectedBytes: 8 + lengthBytes, actualBytes: bytes.count)
        }
        let fields = try Npy.parseHeader(bytes[(8 + lengthBytes)..<dataStart], version: bytes[6])
        let descr = String(fields.descr.map { $0 == "=" ? "<" : $0 })
        let kinds: [String: (size: Int, signed: Bool)] = [
            "|b1": (1, false), "|i1": (1, true), "|u1": (1, false), "<i1": (1, true), "<u1": (1, false), "<i2": (2, true),
            "<u2": (2, false), "<i4": (4, true), "<u4": (4, false), "<i8": (8, true), "<u8": (8, false),
        ]
        guard let kind = kinds[descr] else { throw .unsupportedDType(fields.descr) }
        if fields.fortranOrder && fields.shape.count > 1 { throw .fortranOrder }
        guard let (count, byteCount) = NpyArray.sizes(of: fields.shape, itemSize: kind.size) else {
            throw .badHeader("shape \(fields.shape) of '\(fields.descr)' would take more than \(Int.max) bytes")
        }
        let (end, overflow) = dataStart.addingReportingOverflow(byteCount)
        guard !overflow, bytes.count >= end else { throw .truncated(expectedBytes: end, actualBytes: bytes.count) }
        var values = [Int64](repeating: 0, count: count)
        for i in 0..<count {
            var word: UInt64 = 0
            for b in 0..<kind.size { word |= UInt64(bytes[dataStart + i * kind.size + b]) << (8 * UInt64(b)) }
            if kind.signed, kind.size < 8, word & (1 << (8 * UInt64(kind.size) - 1)) != 0 {
                word |= ~UInt64(0) << (8 * UInt64(kind.size))
            }
            values[i] = Int64(bitPattern: word)
        }
        return NpyIntegers(shape: fields.shape, values: values, isBool: descr == "|b1")
    }
}
