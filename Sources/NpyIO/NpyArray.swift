/// An n-dimensional array as stored in a NumPy `.npy` file, values widened to fp64.
public struct NpyArray: Equatable, Sendable {
    /// The element type the file holds (and that ``Npy/encode(_:)`` writes).
    public enum DType: String, Sendable {
        case float64 = "<f8"
        case float32 = "<f4"

        public var byteSize: Int { self == .float64 ? 8 : 4 }
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
        case let .unsupportedDType(descr):
            if descr.hasPrefix(">") { return "dtype '\(descr)' is big-endian; save it little-endian ('<f8' or '<f4')" }
            return
                "dtype '\(descr)' is not a NumPy descr this reader takes; save arrays with np.save so the header says '<f8' (float64) or '<f4' (float32)"
        case .fortranOrder: return "the array is in Fortran order; save it in C order (np.ascontiguousarray)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
