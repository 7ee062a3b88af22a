import Foundation

/// Reads and writes files so that a failed run leaves no partial output: every file of a
/// run is written under a temporary name in its destination folder, then all are renamed.
public enum AtomicFiles {
    public static func read(_ path: String) throws(NpyError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw .io(path: path, reason: exists ? "cannot be read" : "no such file")
        }
        return [UInt8](data)
    }

    /// Writes every (path, bytes) pair, or none of them.
    public static func write(_ files: [(path: String, bytes: [UInt8])]) throws(NpyError) {
        var staged: [(tmp: String, path: String)] = []
        func cleanUp() { for s in staged { unlink(s.tmp) } }
        for (path, bytes) in files {
            let tmp = path + ".tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
                cleanUp()
                throw .io(path: path, reason: "cannot be written (does its folder exist?)")
            }
            staged.append((tmp, path))
        }
        for s in staged where rename(s.tmp, s.path) != 0 {
            cleanUp()
            throw .io(path: s.path, reason: "cannot be replaced: \(String(cString: strerror(errno)))")
        }
    }

    public static func readNpy(_ path: String) throws(NpyError) -> NpyArray {
        do { return try Npy.decode(read(path)) } catch {
            if case .io = error { throw error }
            throw .io(path: path, reason: error.description)
        }
    }
}
