import Foundation

/// A `.npy` file opened for reading in pieces: the header is read and checked on opening, and
/// ``read(_:)`` reads one range of elements (in C order) at a time, so that a caller can walk a
/// file larger than it wants in memory (`iosim check` reads one head's row block at a time).
public final class NpyFile {
    public let path: String
    public let shape: [Int]
    public let dtype: NpyArray.DType
    /// Elements in the file.
    public let count: Int
    let dataStart: Int
    let handle: FileHandle

    /// Opens `path` and checks its header and size against the file's length; `raw` as for
    /// ``Npy/decode(_:raw:)``. Errors are ``NpyError/io(path:reason:)`` naming the file.
    public init(path: String, raw: Npy.RawFormat? = nil) throws(NpyError) {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            throw .io(path: path, reason: !exists ? "no such file" : isFolder.boolValue ? "is a folder" : "cannot be read")
        }
        self.handle = handle
        do throws(NpyError) {
            let size = try Self.fileSize(handle, path)
            // The fixed part first, then as much header as its length field says.
            var prefix = try Self.read(handle, path, at: 0, count: min(size, 12))
            guard let end = try Npy.headerEnd(prefix) else { throw .truncated(expectedBytes: 12, actualBytes: size) }
            guard end <= size else { throw .truncated(expectedBytes: end, actualBytes: size) }
            prefix = try Self.read(handle, path, at: 0, count: end)
            let layout = try Npy.layout(prefix, raw: raw)
            let needed = layout.dataStart + layout.byteCount
            guard size >= needed else { throw .truncated(expectedBytes: needed, actualBytes: size) }
            (shape, dtype, count, dataStart) = (layout.shape, layout.dtype, layout.count, layout.dataStart)
        } catch {
            try? handle.close()
            if case .io = error { throw error }
            throw .io(path: path, reason: error.description)
        }
    }

    deinit { try? handle.close() }

    /// Elements `range` (flat C-order indices), widened exactly to fp64.
    public func read(_ range: Range<Int>) throws(NpyError) -> [Double] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "elements \(range) outside 0..<\(count)")
        let bytes = try Self.read(handle, path, at: dataStart + range.lowerBound * dtype.byteSize, count: range.count * dtype.byteSize)
        return bytes.withUnsafeBytes { Npy.values($0, dtype: dtype, count: range.count) }
    }

    /// The whole array (what ``AtomicFiles/readNpy(_:raw:)`` returns).
    public func readAll() throws(NpyError) -> NpyArray {
        NpyArray(shape: shape, data: try read(0..<count), dtype: dtype)
    }

    static func fileSize(_ handle: FileHandle, _ path: String) throws(NpyError) -> Int {
        do { return Int(try handle.seekToEnd()) } catch { throw .io(path: path, reason: "cannot be read (\(error.localizedDescription))") }
    }

    static func read(_ handle: FileHandle, _ path: String, at offset: Int, count: Int) throws(NpyError) -> [UInt8] {
        do {
            try handle.seek(toOffset: UInt64(offset))
            var out: [UInt8] = []
            out.reserveCapacity(count)
            // read(upToCount:) may return less than asked (pipes, large reads): loop to the end.
            while out.count < count, let chunk = try handle.read(upToCount: count - out.count), !chunk.isEmpty {
                out += chunk
            }
            guard out.count == count else { throw NpyError.truncated(expectedBytes: offset + count, actualBytes: offset + out.count) }
            return out
        } catch let error as NpyError {
            throw error
        } catch {
            throw .io(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }
}
