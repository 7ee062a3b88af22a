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

    public init(shape: [Int], data: [Double], dtype: DType = .float64) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
        self.dtype = dtype
    }

    public var count: Int { data.count }
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
            return "dtype '\(descr)' is not supported; use float64 ('<f8') or float32 ('<f4')"
        case .fortranOrder: return "the array is in Fortran order; save it in C order (np.ascontiguousarray)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
