import Foundation
import NpyIO
import TestSupport
import Testing

@Suite struct NpyFormat {
    /// The bytes NumPy 2.x writes for `np.save(f, np.arange(6, dtype='<f8').reshape(2, 3))`.
    static func numpyFile(
        descr: String = "<f8", fortran: String = "False", shape: String = "(2, 3)",
        version: UInt8 = 1, values: [Double] = [0, 1, 2, 3, 4, 5]
    ) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
        let lengthBytes = version == 1 ? 2 : 4
        let unpadded = 8 + lengthBytes + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let n = header.utf8.count
        bytes += (0..<lengthBytes).map { UInt8((n >> (8 * $0)) & 0xff) }
        bytes += Array(header.utf8)
        for v in values {
            if descr.hasSuffix("f4") {
                withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes += $0 }
            } else {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
            }
        }
        return bytes
    }

    @Test(arguments: [UInt8(1), 2, 3])
    func decodesEveryFormatVersion(version: UInt8) throws {
        let a = try Npy.decode(Self.numpyFile(version: version))
        #expect(a.shape == [2, 3])
        #expect(a.data == [0, 1, 2, 3, 4, 5])
        #expect(a.dtype == .float64)
    }

    @Test func decodesFloat32AndOneDimensionalShapes() throws {
        let a = try Npy.decode(Self.numpyFile(descr: "<f4", shape: "(6,)", values: [0.5, -1, 2, 3, 4, 1e-3]))
        #expect(a.shape == [6] && a.dtype == .float32)
        #expect(a.data[5] == Double(Float(1e-3)))
    }

    @Test(arguments: [NpyArray.DType.float64, .float32])
    func encodeThenDecodeRoundTripsExactly(dtype: NpyArray.DType) throws {
        let values = (0..<60).map { Double($0) * 0.37 - 9 }
        let a = NpyArray(shape: [2, 3, 10], data: dtype == .float64 ? values : values.map { Double(Float($0)) }, dtype: dtype)
        let bytes = Npy.encode(a)
        #expect((bytes.count - a.count * dtype.byteSize) % 64 == 0, "header padded to 64 bytes")
        #expect(try Npy.decode(bytes) == a)
    }

    @Test func malformedFilesGiveSpecificErrors() {
        let good = Self.numpyFile()
        #expect(throws: NpyError.badMagic) { try Npy.decode(Array("hello world".utf8)) }
        #expect(throws: NpyError.truncated(expectedBytes: good.count, actualBytes: good.count - 5)) {
            try Npy.decode(Array(good.dropLast(5)))
        }
        #expect(throws: NpyError.fortranOrder) { try Npy.decode(Self.numpyFile(fortran: "True")) }
        #expect(throws: NpyError.unsupportedDType(">f8")) { try Npy.decode(Self.numpyFile(descr: ">f8")) }
        #expect(throws: NpyError.unsupportedDType("<i8")) { try Npy.decode(Self.numpyFile(descr: "<i8")) }
        #expect(throws: NpyError.unsupportedVersion(major: 4, minor: 0)) { try Npy.decode(Self.numpyFile(version: 4)) }
        #expect(throws: NpyError.self) { try Npy.decode(Self.numpyFile(shape: "(2, x)")) }
        #expect(throws: NpyError.self) { try Npy.decode(Array(good.prefix(9))) }
        #expect(NpyError.unsupportedDType(">f8").description.contains("big-endian"))
    }

    /// A v1 file whose header text is exactly `header` (no padding added), then `data`.
    static func file(header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
        let text = Array(header.utf8)
        let width = version == 1 ? 2 : 4
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + (0..<width).map { UInt8((text.count >> (8 * $0)) & 0xff) } + text + data
    }

    static func badHeader(_ bytes: [UInt8]) -> String? {
        do { _ = try Npy.decode(bytes); return nil } catch {
            guard case .badHeader(let why) = error else { return "not badHeader: \(error)" }
            return why
        }
    }

    @Test(arguments: [
        "(4294967296, 4294967296)", "(2305843009213693952, 1)", "(9223372036854775807,)",
        "(1152921504606846976, 8)", "(0, 4611686018427387904)", "(0, 4294967296, 4294967296)",
    ])
    func shapeWhoseByteSizeOverflowsIsRejectedNotTrapped(shape: String) throws {
        let why = try #require(Self.badHeader(Self.numpyFile(shape: shape)))
        #expect(why.contains("would take more than 9223372036854775807 bytes"), "\(why)")
    }

    @Test func shapeEntryBeyondIntIsRejected() throws {
        let why = try #require(Self.badHeader(Self.numpyFile(shape: "(99999999999999999999,)")))
        #expect(why.contains("larger than"))
    }

    /// NumPy reads (0, 2**59) of float64 as an empty array (its byte size, leaving out the zero,
    /// fits), so this reader does too.
    @Test func emptyShapeWithLargeDimensionsIsAccepted() throws {
        let a = try Npy.decode(Self.numpyFile(shape: "(0, 576460752303423488)", values: []))
        #expect(a.shape == [0, 576_460_752_303_423_488] && a.count == 0)
    }

    @Test func headerLengthFieldBeyondTheFileIsTruncationNotATrap() {
        let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0, 0xff, 0xff, 0xff, 0xff] + Array("{}\n".utf8)
        #expect(throws: NpyError.truncated(expectedBytes: 12 + 0xffff_ffff, actualBytes: bytes.count)) { try Npy.decode(bytes) }
    }

    @Test func moreThan64DimensionsAreRejected() throws {
        let ones = { (n: Int) in "(" + String(repeating: "1, ", count: n) + ")" }
        #expect(try Npy.decode(Self.numpyFile(shape: ones(64), values: [7])).shape.count == 64)
        #expect(try #require(Self.badHeader(Self.numpyFile(shape: ones(65), values: [7]))).contains("at most 64"))
    }

    @Test(arguments: [
        "{'descr': '<f8', 'fortran_order': False, 'shape': (7,), 'shape': (6,), }\n",
        "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n",
        "{'descr': '<f8', 'fortran_order': False, \"shape\": (6,), 'shape': (6,)}\n",
    ])
    func duplicateKeysAreRejected(header: String) throws {
        let why = try #require(Self.badHeader(Self.file(header: header, data: Array(repeating: 0, count: 48))))
        #expect(why.contains("appears twice"))
    }

    @Test func duplicateShapeKeyIsRejected() throws {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'shape': (6,), }\n"
        #expect(Self.badHeader(Self.file(header: header, data: Array(repeating: 0, count: 48))) != nil)
    }

    @Test(arguments: [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'extra': 1}\n", "unknown key 'extra'"),
        ("{'descr': '<f8', 'shape': (6,)}\n", "no 'fortran_order' key"),
        ("{'fortran_order': False, 'shape': (6,)}\n", "no 'descr' key"),
        ("{'descr': '<f8', 'fortran_order': False}\n", "no 'shape' key"),
        ("{'descr': '<f8', 'fortran_order': 0, 'shape': (6,)}\n", "expected a string, True, False or a tuple"),
        ("{'descr': '<f8', 'fortran_order': '<f8', 'shape': (6,)}\n", "'fortran_order' is not True or False"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': False}\n", "'shape' is not a tuple"),
    ])
    func unknownMissingOrMistypedKeysAreRejected(header: String, message: String) throws {
        let why = try #require(Self.badHeader(Self.file(header: header, data: Array(repeating: 0, count: 48))))
        #expect(why.contains(message), "\(why)")
    }

    @Test func headerWithoutFinalNewlineIsRejected() throws {
        // A header-length field one short: NumPy would read the newline as the first data byte.
        var bytes = Self.numpyFile()
        bytes[8] -= 1
        #expect(try #require(Self.badHeader(bytes)).contains("does not end in a newline"))
    }

    @Test(arguments: ["} x", "}}", "},", "} # comment", "}\r", "}\n "])
    func garbageAfterTheClosingBraceIsRejected(tail: String) throws {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)" + tail + "\n"
        #expect(Self.badHeader(Self.file(header: header, data: Array(repeating: 0, count: 48))) != nil)
    }

    @Test(arguments: [UInt8(1), 3])
    func nonASCIIHeaderIsRejected(version: UInt8) throws {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} \u{E9}\n"
        let why = try #require(Self.badHeader(Self.file(header: header, version: version)))
        #expect(why.contains("not ASCII"))
    }

    /// Python literal syntax that NumPy reads (or refuses) and writers produce, read the same here.
    @Test(arguments: [
        ("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (6,)}\n", [6]),
        ("  {  'shape' :( 2 ,3 ) ,'fortran_order':False,\t'descr':'<f8'  }   \n", [2, 3]),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3,), }\n", [2, 3]),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", []),
        ("{'descr': '<f8', 'fortran_order': True, 'shape': (6,), }\n", [6]),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3 L), }\n", [2, 3]),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (00, 6), }\n", [0, 6]),
    ])
    func headersNumPyAcceptsAreAccepted(header: String, shape: [Int]) throws {
        let a = try Npy.decode(Self.file(header: header, data: Array(repeating: 0, count: 48)))
        #expect(a.shape == shape)
    }

    @Test(arguments: [
        ("(6)", 1), ("[6]", 1), ("(02, 3)", 1), ("(-1,)", 1), ("(6.0,)", 1), ("(6l,)", 1), ("(6,,)", 1), ("(6L,)", 3),
    ])
    func shapesNumPyRefusesAreRejected(shape: String, version: UInt8) {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape)}\n"
        #expect(Self.badHeader(Self.file(header: header, version: version, data: Array(repeating: 0, count: 48))) != nil)
    }

    @Test func unsupportedDTypeMessageNamesTheDescrsNpSaveWrites() {
        let message = NpyError.unsupportedDType("float64").description
        #expect(message.contains("np.save") && message.contains("'<f8' (float64)") && !message.contains("use float64"))
    }

    @Test func emptyArrayWithLargeDimensionsIsConstructibleAndRoundTrips() throws {
        let a = NpyArray(shape: [0, 1 << 59], data: [])
        #expect(try Npy.decode(Npy.encode(a)) == a)
    }

    @Test func atomicWriteLeavesNothingBehindOnFailure() throws {
        let dir = try TemporaryFolder(prefix: "npy")
        defer { dir.remove() }
        let ok = dir.file("a.npy")
        #expect(throws: NpyError.self) {
            try AtomicFiles.write([(ok, [1, 2, 3]), (dir.file("missing/b.npy"), [4])])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        try AtomicFiles.write([(ok, [1, 2, 3])])
        #expect(try AtomicFiles.read(ok) == [1, 2, 3])
    }
}
