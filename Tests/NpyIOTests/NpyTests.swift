import Foundation
import NpyIO
import Testing

@Suite struct NpyFormat {
    /// The bytes NumPy 2.x writes for `np.save(f, np.arange(6, dtype='<f8').reshape(2, 3))`.
    static func numpyFile(descr: String = "<f8", fortran: String = "False", shape: String = "(2, 3)",
                          version: UInt8 = 1, values: [Double] = [0, 1, 2, 3, 4, 5]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
        let lengthBytes = version == 1 ? 2 : 4
        let unpadded = 8 + lengthBytes + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let n = header.utf8.count
        bytes += (0..<lengthBytes).map { UInt8((n >> (8 * $0)) & 0xff) }
        bytes += Array(header.utf8)
        for v in values {
            if descr.hasSuffix("f4") { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes += $0 } }
            else { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
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

    @Test func atomicWriteLeavesNothingBehindOnFailure() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ok = dir + "/a.npy"
        #expect(throws: NpyError.self) {
            try AtomicFiles.write([(ok, [1, 2, 3]), (dir + "/missing/b.npy", [4])])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        try AtomicFiles.write([(ok, [1, 2, 3])])
        #expect(try AtomicFiles.read(ok) == [1, 2, 3])
    }
}
