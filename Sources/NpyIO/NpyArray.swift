/// An n-dimensional array as stored in a NumPy `.npy` file, values widened to fp64 (exactly:
/// every element type read here is a subset of fp64).
public struct NpyArray: Equatable, Sendable {
    /// The element type the file holds (and that ``Npy/encode(_:)`` writes).
    ///
    /// `float64`, `float32` and `float16` are NumPy's own `<f8`, `<f4` and `<f2`. The others have
    /// no NumPy descr of their own, so a file does not say it holds them: they are raw bits, read
    /// only when the caller names the format (``Npy/RawFormat``), and written as unsigned words
    /// (`<u2` for bfloat16, `|u1` for fp8) that NumPy, PyTorch and ml_dtypes can `view` back.
    public enum DType: String, Sendable, CaseIterable {
        case float64, float32, float16
        /// bfloat16 (1 sign, 8 exponent, 7 mantissa bits): the top half of an fp32.
        case bfloat16
        /// OCP FP8 E4M3 ("FN": no infinities, S.1111.111 is NaN, largest finite 448).
        case float8e4m3fn
        /// OCP FP8 E5M2 (IEEE-like: infinities and NaNs, largest finite 57344).
        case float8e5m2

        /// The descr ``Npy/encode(_:)`` writes.
        public var descr: String {
            switch self {
            case .float64: "<f8"
            case .float32: "<f4"
            case .float16: "<f2"
            case .bfloat16: "<u2"
            case .float8e4m3fn, .float8e5m2: "|u1"
            }
        }

        public var byteSize: Int {
            switch self {
            case .float64: 8
            case .float32: 4
            case .float16, .bfloat16: 2
            case .float8e4m3fn, .float8e5m2: 1
            }
        }

        /// Exponent and explicit mantissa bits.
        public var bits: (exponent: Int, mantissa: Int) {
            switch self {
            case .float64: (11, 52)
            case .float32: (8, 23)
            case .float16: (5, 10)
            case .bfloat16: (8, 7)
            case .float8e4m3fn: (4, 3)
            case .float8e5m2: (5, 2)
            }
        }

        /// Whether every value of `other` is one of this type's (fp16 ⊂ fp32, e4m3 ⊂ fp16; fp16 ⊄ bf16):
        /// for these formats, as many exponent and mantissa bits or more.
        public func holdsAllValues(of other: DType) -> Bool {
            bits.exponent >= other.bits.exponent && bits.mantissa >= other.bits.mantissa
        }
    }

    public var shape: [Int]
    public var data: [Double]
    public var dtype: DType

    /// An array of `shape` holding `data` in C order. The shape's element count must equal
    /// `data.count`, and its size in bytes must fit in an Int.
    public init(shape: [Int], data: [Double], dtype: DType = .float64) {
        // Checked, so that a shape whose product overflows fails this message instead of trapping.
        precondition(
            Self.sizes(of: shape, itemSize: dtype.byteSize)?.count == data.count,
            "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
        self.dtype = dtype
    }

    public var count: Int { data.count }

    /// The element count of `shape` and its size in bytes, or nil when a dimension is negative
    /// or the size overflows Int. As in NumPy, the zero dimensions of an empty array are left
    /// out of the overflow check but the others are not: NumPy refuses `(0, 2**62)` for
    /// float64, and so does this.
    static func sizes(of shape: [Int], itemSize: Int) -> (count: Int, bytes: Int)? {
        var bytes = itemSize
        for n in shape where n != 0 {
            guard n > 0 else { return nil }
            let (product, overflow) = bytes.multipliedReportingOverflow(by: n)
            if overflow { return nil }
            bytes = product
        }
        return shape.contains(0) ? (0, 0) : (bytes / itemSize, bytes)
    }
}

/// Why a `.npy` file could not be read or written.
public enum NpyError: Error, Equatable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(major: UInt8, minor: UInt8)
    case truncated(expectedBytes: Int, actualBytes: Int)
    case badHeader(String)
    case unsupportedDType(String)
    case fortranOrder
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .badMagic: return "not a .npy file (the magic string \\x93NUMPY is missing)"
        case let .unsupportedVersion(major, minor):
            return ".npy format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are)"
        case let .truncated(expected, actual):
            return "the file is truncated: it has \(actual) bytes, the header promises \(expected)"
        case let .badHeader(why): return "malformed .npy header: \(why)"
        case let .unsupportedDType(descr): return Npy.dtypeAdvice(descr)
        case .fortranOrder: return "the array is in Fortran order; save it in C order (np.ascontiguousarray)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
