/// Encoding and decoding of NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), for
/// little-endian float64 and float32 arrays in C order.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses a whole `.npy` file.
    public static func decode(_ bytes: [UInt8]) throws(NpyError) -> NpyArray {
        guard bytes.count >= 8, Array(bytes[0..<6]) == magic else { throw .badMagic }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw .unsupportedVersion(major: major, minor: minor)
        }
        guard minor == 0 else { throw .unsupportedVersion(major: major, minor: minor) }
        guard bytes.count >= 8 + lengthBytes else { throw .truncated(expectedBytes: 8 + lengthBytes, actualBytes: bytes.count) }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let start = 8 + lengthBytes
        guard bytes.count >= start + headerLength else {
            throw .truncated(expectedBytes: start + headerLength, actualBytes: bytes.count)
        }
        // Version 1 and 2 headers are latin-1, version 3 UTF-8; the keys we read are ASCII either way.
        guard let header = String(bytes: bytes[start..<start + headerLength], encoding: .utf8) ?? String(
            decoding: bytes[start..<start + headerLength], as: Unicode.ASCII.self) as String? else {
            throw .badHeader("not text")
        }
        let fields = try parseHeader(header)
        guard let dtype = NpyArray.DType(rawValue: fields.descr) else { throw .unsupportedDType(fields.descr) }
        if fields.fortranOrder && fields.shape.count > 1 { throw .fortranOrder }
        let count = fields.shape.reduce(1, *)
        let dataStart = start + headerLength
        let needed = dataStart + count * dtype.byteSize
        guard bytes.count >= needed else { throw .truncated(expectedBytes: needed, actualBytes: bytes.count) }
        var data = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let offset = dataStart + i * dtype.byteSize
                switch dtype {
                case .float64:
                    data[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case .float32:
                    data[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                }
            }
        }
        return NpyArray(shape: fields.shape, data: data, dtype: dtype)
    }

    /// Writes a version 1.0 file, header padded to a multiple of 64 bytes as NumPy does.
    public static func encode(_ array: NpyArray) -> [UInt8] {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(array.dtype.rawValue)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xff), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + array.count * array.dtype.byteSize)
        for x in array.data {
            switch array.dtype {
            case .float64: withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 }
            case .float32: withUnsafeBytes(of: Float(x).bitPattern.littleEndian) { bytes += $0 }
            }
        }
        return bytes
    }

    struct HeaderFields { var descr: String; var fortranOrder: Bool; var shape: [Int] }

    /// Reads the three keys of the header's Python dict literal.
    static func parseHeader(_ header: String) throws(NpyError) -> HeaderFields {
        func value(after key: String) throws(NpyError) -> Substring {
            guard let k = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else {
                throw .badHeader("no '\(key)' key")
            }
            let rest = header[k.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { throw .badHeader("no ':' after '\(key)'") }
            return rest.dropFirst().drop { $0 == " " }
        }
        let d = try value(after: "descr")
        guard let quote = d.first, quote == "'" || quote == "\"",
              let end = d.dropFirst().firstIndex(of: quote) else { throw .badHeader("descr is not a string") }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        let f = try value(after: "fortran_order")
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else {
            throw .badHeader("fortran_order is neither True nor False")
        }
        let s = try value(after: "shape")
        guard s.first == "(", let close = s.firstIndex(of: ")") else { throw .badHeader("shape is not a tuple") }
        var shape: [Int] = []
        for part in s[s.index(after: s.startIndex)..<close].split(separator: ",") {
            let t = part.trimmingCharacters(in: " ")
            if t.isEmpty { continue }
            guard let n = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), n >= 0 else {
                throw .badHeader("shape entry '\(t)' is not a non-negative integer")
            }
            shape.append(n)
        }
        return HeaderFields(descr: descr, fortranOrder: fortran, shape: shape)
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
