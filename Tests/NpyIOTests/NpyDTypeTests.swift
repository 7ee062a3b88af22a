import Foundation
import NpyIO
import TestSupport
import Testing

/// fp16, bfloat16 and fp8 in `.npy` files: exact decoding, round-to-nearest-even encoding, round
/// trips, raw formats read only when named, and the files NumPy and ml_dtypes write.
@Suite struct NpyDTypes {
    /// Every finite value of `codec` with its bit pattern, ascending, plus the value just past the
    /// largest finite one with unbounded exponent (where overflow starts) — a rounding oracle
    /// written independently of `SmallFloat.encode`.
    static func oracle(_ codec: SmallFloat, width: Int) -> [(value: Double, bits: UInt32)] {
        var finite: [(value: Double, bits: UInt32)] = []
        for bits in 0..<(UInt32(1) << UInt32(width)) {
            let value = codec.decode(bits)
            // Non-negative finite values, +0 once (from bit pattern 0).
            if value.isFinite && value.sign == .plus { finite.append((value, bits)) }
        }
        finite.sort { $0.value < $1.value }
        let top = finite.last!
        // With an unbounded exponent the next value is top + ulp(top); its mantissa is even
        // only in the IEEE formats (where top's mantissa is all ones).
        let ulp = Double(sign: .plus, exponent: Int(top.value.exponent) - codec.mantissaBits, significand: 1)
        finite.append((top.value + ulp, top.bits + 1))
        return finite
    }

    /// Round to nearest, ties to even, by search over the format's values.
    static func roundByOracle(_ x: Double, _ table: [(value: Double, bits: UInt32)], signBit: UInt32) -> (Double, UInt32) {
        let a = abs(x)
        var lo = 0, hi = table.count - 1
        if a >= table[hi].value { return (table[hi].value, table[hi].bits) }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if table[mid].value <= a { lo = mid } else { hi = mid }
        }
        let (below, above) = (table[lo], table[hi])
        let (dl, dh) = (a - below.value, above.value - a)
        let pick = dl < dh ? below : dh < dl ? above : (below.bits % 2 == 0 ? below : above)
        return (pick.value, pick.bits | (x.sign == .minus ? signBit : 0))
    }

    static let formats: [(name: String, codec: SmallFloat, width: Int)] = [
        ("float16", .float16, 16), ("bfloat16", .bfloat16, 16), ("e4m3fn", .float8e4m3fn, 8), ("e5m2", .float8e5m2, 8),
    ]

    @Test func decodingMatchesTheSpecsNamedValues() {
        let expected: [(SmallFloat, UInt32, Double)] = [
            (.float16, 0x3C00, 1), (.float16, 0x7BFF, 65504), (.float16, 0x0001, 0x1p-24), (.float16, 0x0400, 0x1p-14),
            (.float16, 0x7C00, .infinity), (.float16, 0xC000, -2), (.float16, 0x3555, 0x1.554p-2),
            (.bfloat16, 0x3F80, 1), (.bfloat16, 0x7F7F, 0x1.FEp127), (.bfloat16, 0x0001, 0x1p-133), (.bfloat16, 0xFF80, -.infinity),
            // OCP OFP8: E4M3FN 0x7E = 448 (S.1111.110), 0x08 = 2^-6 (min normal), 0x01 = 2^-9 (min subnormal).
            (.float8e4m3fn, 0x7E, 448), (.float8e4m3fn, 0x08, 0x1p-6), (.float8e4m3fn, 0x01, 0x1p-9), (.float8e4m3fn, 0x78, 256),
            (.float8e4m3fn, 0xB8, -1),
            // E5M2: 0x7B = 57344, 0x7C = ∞, 0x04 = 2^-14 (min normal), 0x01 = 2^-16 (min subnormal).
            (.float8e5m2, 0x7B, 57344), (.float8e5m2, 0x7C, .infinity), (.float8e5m2, 0x04, 0x1p-14), (.float8e5m2, 0x01, 0x1p-16),
            (.float8e5m2, 0xBC, -1),
        ]
        for (codec, bits, value) in expected { #expect(codec.decode(bits) == value, "\(codec) 0x\(String(bits, radix: 16))") }
        #expect(SmallFloat.float8e4m3fn.decode(0x7F).isNaN && SmallFloat.float8e4m3fn.decode(0xFF).isNaN)
        #expect(SmallFloat.float8e4m3fn.decode(0x80) == 0 && SmallFloat.float8e4m3fn.decode(0x80).sign == .minus)
        #expect((0x7D...0x7F).allSatisfy { SmallFloat.float8e5m2.decode($0).isNaN })
        #expect(SmallFloat.float8e4m3fn.greatestFinite == 448 && SmallFloat.float8e5m2.greatestFinite == 57344)
    }

    #if !(os(macOS) && arch(x86_64))
        @Test func float16DecodingAndRoundingAgreeWithSwiftsFloat16() {
            for bits in 0...UInt16.max {
                let mine = SmallFloat.float16.decode(UInt32(bits)), swift = Double(Float16(bitPattern: bits))
                #expect(mine == swift || (mine.isNaN && swift.isNaN), "0x\(String(bits, radix: 16))")
            }
            var rng = SeededGenerator(seed: 16)
            for _ in 0..<200_000 {
                let x = Double(
                    sign: rng.next() % 2 == 0 ? .plus : .minus, exponent: Int(rng.next() % 44) - 28,
                    significand: 1 + Double(rng.next() % (1 << 52)) / 0x1p52)
                #expect(UInt16(SmallFloat.float16.encode(x)) == Float16(x).bitPattern, "\(x)")
            }
        }
    #endif

    @Test(arguments: formats.map(\.name))
    func encodingRoundsToNearestEvenLikeAnIndependentOracle(format: String) {
        let (_, codec, width) = Self.formats.first { $0.name == format }!
        let table = Self.oracle(codec, width: width)
        let signBit = UInt32(1) << UInt32(width - 1)
        var rng = SeededGenerator(seed: 0xF0F0)
        var xs: [Double] = []
        // Every value, every midpoint between neighbours (ties), and points just either side of them.
        for (a, b) in zip(table, table.dropFirst()) {
            let mid = (a.value + b.value) / 2
            xs += [a.value, mid, mid.nextUp, mid.nextDown, -mid]
        }
        for _ in 0..<20_000 {
            let top = Int(table.last!.value.exponent) + 1, bottom = Int(table[1].value.exponent) - 2
            xs.append(
                Double(
                    sign: .plus, exponent: bottom + Int(rng.next() % UInt64(top - bottom + 1)),
                    significand: 1 + Double(rng.next() % (1 << 52)) / 0x1p52))
        }
        for x in xs {
            let (value, bits) = Self.roundByOracle(x, table, signBit: signBit)
            let overflowed = value > codec.greatestFinite
            let got = codec.encode(x)
            if overflowed {
                #expect(codec.decode(got).isInfinite == codec.ieeeSpecials && (codec.ieeeSpecials || codec.decode(got).isNaN), "\(format) \(x)")
            } else {
                #expect(got == bits, "\(format) \(x): got 0x\(String(got, radix: 16)), want 0x\(String(bits, radix: 16))")
            }
        }
    }

    @Test func encodingKeepsSignedZerosInfinitiesAndNaN() {
        for (_, codec, width) in Self.formats {
            let signBit = UInt32(1) << UInt32(width - 1)
            #expect(codec.encode(-0.0) == signBit && codec.encode(0) == 0)
            #expect(codec.decode(codec.encode(.nan)).isNaN && codec.decode(codec.encode(-.nan)).isNaN)
            #expect(codec.decode(codec.encode(1e-300)) == 0, "underflow to zero")
            let huge = codec.decode(codec.encode(.infinity))
            #expect(codec.ieeeSpecials ? huge == .infinity : huge.isNaN)
        }
    }

    @Test(arguments: NpyArray.DType.allCases)
    func everyBitPatternRoundTripsThroughAFile(dtype: NpyArray.DType) throws {
        let values: [Double]
        if let codec = SmallFloat.of(dtype) {
            values = (0..<(UInt32(1) << UInt32(8 * dtype.byteSize))).map(codec.decode).filter { !$0.isNaN }
        } else {
            var rng = SeededGenerator(seed: 3)
            let wide = (0..<1000).map { _ in Double.random(in: -3...3, using: &rng) } + [.infinity, -0.0, .leastNonzeroMagnitude]
            values = dtype == .float32 ? wide.map { Double(Float($0)) } : wide
        }
        let a = NpyArray(shape: [values.count], data: values, dtype: dtype)
        let raw = Npy.RawFormat.allCases.first { $0.rawValue == dtype.rawValue }
        let back = try Npy.decode(Npy.encode(a), raw: raw)
        #expect(back.dtype == dtype && back.shape == a.shape)
        #expect(zip(back.data, values).allSatisfy { $0.bitPattern == $1.bitPattern || ($0 == 0 && $1 == 0 && $0.sign == $1.sign) })
    }

    @Test func rawDescrsNeedTheCallersWordAndSaySo() throws {
        for descr in ["<u2", "<i2", "<V2", "|V2"] {
            let file = NpyFormat.numpyFile(descr: descr, shape: "(0,)", values: [])
            #expect(throws: NpyError.unsupportedDType(descr)) { try Npy.decode(file) }
            #expect(NpyError.unsupportedDType(descr).description.contains("--bf16-bits"))
            #expect(try Npy.decode(file, raw: .bfloat16).dtype == .bfloat16)
            #expect(throws: NpyError.unsupportedDType(descr)) { try Npy.decode(file, raw: .float8e4m3fn) }
        }
        for descr in ["|u1", "<V1", "|V1", "<f1"] {
            let file = NpyFormat.numpyFile(descr: descr, shape: "(0,)", values: [])
            #expect(throws: NpyError.unsupportedDType(descr)) { try Npy.decode(file) }
            #expect(NpyError.unsupportedDType(descr).description.contains("--fp8-bits"))
            #expect(try Npy.decode(file, raw: .float8e5m2).dtype == .float8e5m2)
        }
        let other = NpyError.unsupportedDType("<i8").description
        #expect(!other.contains("\n") && other.contains("'<f2' (float16)"))
    }

    /// `Corpus/` holds files written by NumPy (`<f2`) and by ml_dtypes 0.6.0 (bfloat16 as `<V2`,
    /// float8_e4m3fn as `<V1`, float8_e5m2 as `<f1`), all of the values [1.5, -2, 0.1, 448] rounded
    /// to the format (see scripts/npy_fuzz_check.py --make-corpus).
    @Test func readsTheFilesNumPyAndMlDtypesWrite() throws {
        let corpus = Repo.url("Tests/NpyIOTests/Corpus")
        func read(_ name: String, _ raw: Npy.RawFormat?) throws -> NpyArray {
            try Npy.decode([UInt8](try Data(contentsOf: corpus.appendingPathComponent(name))), raw: raw)
        }
        let f2 = try read("v1_f2_2d.npy", nil)
        #expect(f2.dtype == .float16 && f2.shape == [2, 2] && f2.data == [1.5, -2, 0x1.998p-4, 448])
        let bf = try read("mldtypes_bf16.npy", .bfloat16)
        #expect(bf.dtype == .bfloat16 && bf.data == [1.5, -2, 0x1.9Ap-4, 448])
        #expect(throws: NpyError.unsupportedDType("<V2")) { try read("mldtypes_bf16.npy", nil) }
        #expect(try read("mldtypes_e4m3fn.npy", .float8e4m3fn).data == [1.5, -2, 0x1.Ap-4, 448])
        #expect(try read("mldtypes_e5m2.npy", .float8e5m2).data == [1.5, -2, 0x1.8p-4, 448])
    }

    @Test func aFileReadInPiecesGivesTheWholeArraysValues() throws {
        let dir = try Repo.tempDir(prefix: "npy-pieces")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededGenerator(seed: 9)
        for dtype in NpyArray.DType.allCases {
            let codec = SmallFloat.of(dtype)
            let a = NpyArray(
                shape: [3, 5, 7],
                data: (0..<105).map { _ in
                    codec.map { $0.decode($0.encode(Double.random(in: -3...3, using: &rng))) }
                        ?? Double(Float(Double.random(in: -3...3, using: &rng)))
                }, dtype: dtype)
            let path = dir.appendingPathComponent("\(dtype).npy").path
            try Data(Npy.encode(a)).write(to: URL(fileURLWithPath: path))
            let raw = Npy.RawFormat.allCases.first { $0.rawValue == dtype.rawValue }
            let file = try NpyFile(path: path, raw: raw)
            #expect(file.shape == [3, 5, 7] && file.dtype == dtype)
            #expect(try file.read(35..<70) == Array(a.data[35..<70]))
            #expect(try file.readAll() == a)
        }
        let cut = dir.appendingPathComponent("cut.npy").path
        try Data(Npy.encode(NpyArray(shape: [4], data: [1, 2, 3, 4])).dropLast(3)).write(to: URL(fileURLWithPath: cut))
        #expect(throws: NpyError.io(path: cut, reason: "the file is truncated: it has 157 bytes, the header promises 160")) {
            _ = try NpyFile(path: cut)
        }
    }
}
