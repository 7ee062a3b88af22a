import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads and writes files so that a failed run leaves no partial output.
///
/// ``write(_:)`` writes the outputs of one run all or none. It first checks every destination,
/// then writes each output to a fresh temporary file in its destination's folder (a unique name,
/// created with `O_EXCL`; flushed with `fsync`), and only when all are staged renames them over
/// their destinations. What a destination is decides how it is written:
///
/// - Absent or a regular file: replaced by the rename. A file that existed must be writable by the
///   user (as for `cp` and `>`) and keeps its permission bits.
/// - A symbolic link: followed (relative links from the link's folder, up to 40 links); what it
///   points at is written as if its path had been given, and the link stays a link, as `cp` and
///   shell redirection do. A dangling link's target is created.
/// - A character device or a FIFO (`/dev/null`, `/dev/stdout`, a terminal, a named pipe): written
///   through, never replaced, after every regular output is staged and before any rename; a write
///   error (`/dev/full`: "No space left on device") fails the run and removes the temporaries, but
///   bytes already written to such a destination cannot be taken back. A regular file reached
///   through `/proc` (`/dev/stdout` redirected to a file) is written through too, truncated first.
/// - A folder, a block device or a socket: refused.
///
/// Two outputs naming the same file (after following links; hard links too, by device and inode)
/// are refused, except a device or FIFO written through twice (`/dev/null` for both). Failures are
/// one-line ``NpyError/io(path:reason:)`` errors whose reason carries the system's own error text;
/// temporaries are removed on every failure path.
public enum AtomicFiles {
    public static func read(_ path: String) throws(NpyError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw .io(path: path, reason: exists ? "cannot be read" : "no such file")
        }
        return [UInt8](data)
    }

    /// Reads a whole `.npy` file; `raw` as for ``Npy/decode(_:raw:)``.
    public static func readNpy(_ path: String, raw: Npy.RawFormat? = nil) throws(NpyError) -> NpyArray {
        do { return try Npy.decode(read(path), raw: raw) } catch {
            if case .io = error { throw error }
            throw .io(path: path, reason: error.description)
        }
    }

    /// Checks, before any work is done, that `outputs` can all be written by ``write(_:)`` and that
    /// none of them is one of `inputs` or another output (however spelled: `./x`, a symbolic link, a
    /// hard link). Errors name both flags, e.g. `o.npy: --out is the same file as --q (q.npy); …`.
    public static func checkDestinations(
        _ outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)] = []
    ) throws(NpyError) {
        var destinations: [Destination] = []
        for output in outputs { destinations.append(try resolve(output.path)) }
        try checkDistinct(destinations, flags: outputs.map(\.flag))
        for (output, destination) in zip(outputs, destinations) {
            // Only a regular file can be clobbered; reading and writing one terminal is fine.
            guard destination.isRegular, let id = destination.identity else { continue }
            for input in inputs {
                var st = stat()
                guard stat(input.path, &st) == 0, FileIdentity(st) == id else { continue }
                throw .io(
                    path: output.path,
                    reason: "\(output.flag) is the same file as \(input.flag) (\(input.path)); "
                        + "refusing to overwrite an input")
            }
        }
    }

    /// Writes every (path, bytes) pair, or none of them (see the type's documentation).
    public static func write(_ files: [(path: String, bytes: [UInt8])]) throws(NpyError) {
        try write(files, beforeRenaming: {})
    }

    /// ``write(_:)`` with a hook run after staging, just before the renames (tests use it to make a
    /// rename fail).
    static func write(_ files: [(path: String, bytes: [UInt8])], beforeRenaming: () -> Void) throws(NpyError) {
        try Interrupts.deferred { () throws(NpyError) in try commit(files, beforeRenaming: beforeRenaming) }
    }

    /// ``write(_:beforeRenaming:)``'s work, with interrupts held back.
    private static func commit(_ files: [(path: String, bytes: [UInt8])], beforeRenaming: () -> Void) throws(NpyError) {
        var destinations: [Destination] = []
        for file in files { destinations.append(try resolve(file.path)) }
        try checkDistinct(destinations, flags: nil)

        var staged: [(tmp: String, destination: Destination)] = []
        func removeTemporaries(from start: Int = 0) {
            for s in staged[start...] { unlink(s.tmp) }
        }
        for (file, destination) in zip(files, destinations) where destination.method == .replace {
            do { staged.append((try stage(file.bytes, for: destination), destination)) } catch {
                removeTemporaries()
                throw error
            }
        }
        var written: [String] = []
        for (file, destination) in zip(files, destinations) where destination.method == .writeThrough {
            do { try writeThrough(file.bytes, to: destination) } catch {
                removeTemporaries()
                throw error
            }
            written.append(destination.given)
        }
        beforeRenaming()
        for (i, s) in staged.enumerated() where rename(s.tmp, s.destination.target) != 0 {
            let code = errno  // before unlink can change it
            removeTemporaries(from: i)
            let done = written + staged[..<i].map(\.destination.given)
            throw .io(
                path: s.destination.given,
                reason: "cannot be replaced: \(errorText(code))"
                    + (done.isEmpty ? "" : "; already written: " + done.joined(separator: ", ")))
        }
        // Make the renames durable too (best effort: some file systems refuse to sync a folder).
        for folder in Set(staged.map(\.destination.folder)) {
            let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { _ = fsync(fd); close(fd) }
        }
    }

    // MARK: - Destinations

    /// An existing file's identity: two paths name the same file when these agree.
    struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
        init(_ st: stat) {
            device = UInt64(truncatingIfNeeded: st.st_dev)
            inode = UInt64(truncatingIfNeeded: st.st_ino)
        }
    }

    /// Where one output goes, once its symbolic links are followed.
    struct Destination {
        enum Method { case replace, writeThrough }
        /// The path as given.
        var given: String
        var method: Method
        /// `.replace`: the path renamed onto (links followed); `.writeThrough`: the path opened.
        var target: String
        /// `.replace`: the real path of the folder the temporary is made in.
        var folder = ""
        /// The existing file's identity, `nil` when the destination does not exist yet.
        var identity: FileIdentity?
        var isRegular = false
        /// Permission bits of the regular file being replaced.
        var mode: mode_t?
        /// The absolute, link-free name: what two destinations that do not exist yet compare by.
        var key: String
    }

    static let fileType: mode_t = 0o170000
    static let regularType: mode_t = 0o100000, directoryType: mode_t = 0o040000, linkType: mode_t = 0o120000
    static let characterType: mode_t = 0o020000, blockType: mode_t = 0o060000
    static let fifoType: mode_t = 0o010000, socketType: mode_t = 0o140000

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    static func realPath(_ path: String) -> (path: String?, errno: Int32) {
        guard let p = realpath(path, nil) else { return (nil, errno) }
        defer { free(p) }
        return (String(cString: p), 0)
    }

    static func readLink(_ path: String) -> (target: String?, errno: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4097)
        let n = buffer.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink(path, $0, b.count - 1) }
        }
        guard n >= 0 else { return (nil, errno) }
        return (String(decoding: buffer[..<n], as: UTF8.self), 0)
    }

    /// Follows `given`'s symbolic links and decides how it can be written, or says why not.
    static func resolve(_ given: String) throws(NpyError) -> Destination {
        guard !given.isEmpty else { throw .io(path: "''", reason: "an output path is empty") }
        var path = given
        var links = 0
        while true {
            var st = stat()
            if lstat(path, &st) != 0 {
                let code = errno
                if code == ENOENT { break }  // to be created (a missing folder is reported below)
                throw .io(path: given, reason: "cannot be examined: \(errorText(code))")
            }
            guard st.st_mode & fileType == linkType else { return try existing(given, path: path, st: st, viaProc: false) }
            links += 1
            guard links <= 40 else { throw .io(path: given, reason: "cannot be followed: \(errorText(ELOOP))") }
            let (folder, _) = split(path)
            // Links in /proc (/dev/stdout, /dev/fd/N) name open files, not paths: let the kernel follow them.
            if let real = realPath(folder).path, real == "/proc" || real.hasPrefix("/proc/") {
                var target = stat()
                guard stat(path, &target) == 0 else {
                    throw .io(path: given, reason: "cannot be examined: \(errorText(errno))")
                }
                return try existing(given, path: path, st: target, viaProc: true)
            }
            let (link, code) = readLink(path)
            guard let link else { throw .io(path: given, reason: "cannot be followed: \(errorText(code))") }
            path = link.hasPrefix("/") ? link : (folder == "/" ? "" : folder) + "/" + link
        }
        // `path` does not exist: it will be created.
        let (folder, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw .io(path: given, reason: "names a folder; give a file name")
        }
        let realFolder = try writableFolder(folder, for: given)
        return Destination(given: given, method: .replace, target: path, folder: realFolder, key: realFolder + "/" + name)
    }

    /// The destination for an existing non-link `path` (reached from `given`), whose stat is `st`.
    static func existing(_ given: String, path: String, st: stat, viaProc: Bool) throws(NpyError) -> Destination {
        let id = FileIdentity(st)
        let key = realPath(path).path ?? path
        switch st.st_mode & fileType {
        case regularType where !viaProc:
            let (folder, name) = split(path)
            let realFolder = try writableFolder(folder, for: given)
            // A file the user may not write is not replaced behind its back (as `cp` and `>` refuse).
            guard access(path, W_OK) == 0 else { throw .io(path: given, reason: "cannot be replaced: \(errorText(errno))") }
            return Destination(
                given: given, method: .replace, target: path, folder: realFolder, identity: id,
                isRegular: true, mode: st.st_mode & 0o777, key: realFolder + "/" + name)
        case regularType, characterType, fifoType:
            return Destination(
                given: given, method: .writeThrough, target: path, identity: id,
                isRegular: st.st_mode & fileType == regularType, key: key)
        case directoryType: throw .io(path: given, reason: "is a folder; give a file name")
        case blockType: throw .io(path: given, reason: "is a block device; refusing to write over it")
        case socketType: throw .io(path: given, reason: "is a socket; cannot write an array to it")
        default: throw .io(path: given, reason: "is not a regular file; refusing to write over it")
        }
    }

    /// The real path of `folder` after checking that a file can be created and renamed in it.
    static func writableFolder(_ folder: String, for given: String) throws(NpyError) -> String {
        let (real, code) = realPath(folder)
        guard let real else {
            throw .io(path: given, reason: "its folder \(folder) cannot be used: \(errorText(code))")
        }
        var st = stat()
        guard stat(real, &st) == 0, st.st_mode & fileType == directoryType else {
            throw .io(path: given, reason: "its folder \(folder) cannot be used: \(errorText(ENOTDIR))")
        }
        guard access(real, W_OK | X_OK) == 0 else {
            throw .io(path: given, reason: "cannot be written in \(folder): \(errorText(errno))")
        }
        return real
    }

    /// Refuses two destinations that are the same file (a device or FIFO written through may repeat).
    static func checkDistinct(_ destinations: [Destination], flags: [String]?) throws(NpyError) {
        for (i, a) in destinations.enumerated() {
            for (j, b) in destinations[..<i].enumerated() {
                let same = if let ia = a.identity, let ib = b.identity { ia == ib } else { a.key == b.key }
                guard same, a.method == .replace || b.method == .replace || a.isRegular || b.isRegular else { continue }
                let what =
                    flags.map { "\($0[i]) is the same file as \($0[j]) (\(b.given))" }
                    ?? "is the same file as another output (\(b.given))"
                throw .io(path: a.given, reason: what + "; give each output its own file")
            }
        }
    }

    // MARK: - Writing

    /// Writes `bytes` through `fd`; returns the errno of a failure, or nil.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = Glibc_write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return EIO }
                offset += n
            }
            return nil
        }
    }

    /// Writes `bytes` to a new, uniquely named temporary file in the destination's folder,
    /// flushed to disk; returns its path.
    static func stage(_ bytes: [UInt8], for destination: Destination) throws(NpyError) -> String {
        let (_, name) = split(destination.target)
        var fd: Int32 = -1
        var tmp = ""
        for _ in 0..<100 {
            tmp = destination.folder + "/" + name + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(0o666))
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw .io(path: destination.given, reason: "cannot be written in \(destination.folder): \(errorText(errno))")
        }
        if let mode = destination.mode { _ = fchmod(fd, mode) }
        var failure = writeAll(fd, bytes)
        if failure == nil, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == nil { failure = errno }
        if let failure {
            unlink(tmp)
            throw .io(path: destination.given, reason: "cannot be written: \(errorText(failure))")
        }
        return tmp
    }

    /// Writes `bytes` into an existing device, FIFO or /proc-named file without replacing it.
    static func writeThrough(_ bytes: [UInt8], to destination: Destination) throws(NpyError) {
        let flags = O_WRONLY | O_NOCTTY | O_CLOEXEC | (destination.isRegular ? O_TRUNC : 0)
        let fd = open(destination.target, flags)
        guard fd >= 0 else { throw .io(path: destination.given, reason: "cannot be opened: \(errorText(errno))") }
        var failure = writeAll(fd, bytes)
        if close(fd) != 0, failure == nil { failure = errno }
        if let failure { throw .io(path: destination.given, reason: "cannot be written: \(errorText(failure))") }
    }
}

/// The C library's `write(2)` (the name `write` is taken by ``AtomicFiles/write(_:)`` inside the type).
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
