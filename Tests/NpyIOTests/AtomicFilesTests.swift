import Foundation
import TestSupport
import Testing

@testable import NpyIO

func fileType(_ path: String) -> FileAttributeType? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
}

/// The error `body` throws, as the one line the CLI prints.
func ioError(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
}

@Suite struct AtomicFileDestinations {
    @Test func symlinkDestinationIsWrittenThroughAndStaysALink() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        try AtomicFiles.write([(dir.file("target.npy"), [1, 2, 3])])
        try FileManager.default.createSymbolicLink(atPath: dir.file("link.npy"), withDestinationPath: "target.npy")
        try FileManager.default.createSymbolicLink(atPath: dir.file("chain.npy"), withDestinationPath: dir.file("link.npy"))
        try AtomicFiles.write([(dir.file("chain.npy"), [9, 9])])
        #expect(fileType(dir.file("link.npy")) == .typeSymbolicLink)
        #expect(fileType(dir.file("chain.npy")) == .typeSymbolicLink)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.file("link.npy")) == "target.npy")
        #expect(try AtomicFiles.read(dir.file("target.npy")) == [9, 9])
        // A dangling link's target is created, as shell redirection does.
        try FileManager.default.createSymbolicLink(atPath: dir.file("dangling.npy"), withDestinationPath: "new.npy")
        try AtomicFiles.write([(dir.file("dangling.npy"), [4])])
        #expect(fileType(dir.file("dangling.npy")) == .typeSymbolicLink)
        #expect(try AtomicFiles.read(dir.file("new.npy")) == [4])
        #expect(dir.contents == ["target.npy", "link.npy", "chain.npy", "dangling.npy", "new.npy"])
    }

    @Test func replacedFileKeepsItsPermissionBits() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let path = dir.file("o.npy")
        try AtomicFiles.write([(path, [1])])
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        try AtomicFiles.write([(path, [2])])
        #expect((try FileManager.default.attributesOfItem(atPath: path))[.posixPermissions] as? Int == 0o640)
        #expect(try AtomicFiles.read(path) == [2])
    }

    @Test func characterDeviceDestinationIsNeverReplaced() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        try AtomicFiles.write([("/dev/null", [1, 2, 3])])
        #expect(fileType("/dev/null") == .typeCharacterSpecial)
        // Through a link too; the device may repeat (both outputs discarded).
        try FileManager.default.createSymbolicLink(atPath: dir.file("null.npy"), withDestinationPath: "/dev/null")
        try AtomicFiles.write([(dir.file("null.npy"), [1]), ("/dev/null", [2])])
        #expect(fileType(dir.file("null.npy")) == .typeSymbolicLink && fileType("/dev/null") == .typeCharacterSpecial)
        // /dev/full fails with its own error, in one line, and stays a device (as root, too).
        let message = ioError { try AtomicFiles.write([("/dev/full", [1, 2, 3])]) }
        #expect(message == "/dev/full: cannot be written: No space left on device")
        #expect(fileType("/dev/full") == .typeCharacterSpecial)
        let devices = try FileManager.default.contentsOfDirectory(atPath: "/dev")
        #expect(!devices.contains { $0.hasPrefix("full.tmp-") || $0.hasPrefix("null.tmp-") }, "no temporaries in /dev")
    }

    @Test func foldersAndMissingFoldersAreRefusedBeforeAnythingIsWritten() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("adir"), withIntermediateDirectories: false)
        #expect(ioError { try AtomicFiles.write([(dir.file("adir"), [1])]) }?.hasSuffix("adir: is a folder; give a file name") == true)
        #expect(ioError { try AtomicFiles.write([(dir.file("new/"), [1])]) }?.contains("names a folder") == true)
        #expect(
            ioError { try AtomicFiles.write([(dir.file("missing/o.npy"), [1])]) }?
                .hasSuffix("cannot be used: No such file or directory") == true)
        try AtomicFiles.write([(dir.file("file"), [1])])
        #expect(ioError { try AtomicFiles.write([(dir.file("file/o.npy"), [1])]) }?.hasSuffix("Not a directory") == true)
        #expect(dir.contents == ["adir", "file"])
    }

    @Test func failingSecondOutputLeavesFirstUntouched() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let o = dir.file("o.npy")
        try AtomicFiles.write([(o, [1, 2, 3])])
        try FileManager.default.createDirectory(atPath: dir.file("adir"), withIntermediateDirectories: false)
        #expect(throws: NpyError.self) { try AtomicFiles.write([(o, [7, 7]), (dir.file("adir"), [8])]) }
        #expect(try AtomicFiles.read(o) == [1, 2, 3])
        #expect(dir.contents == ["o.npy", "adir"], "no temporaries left")
    }

    @Test func failingWriteThroughLeavesRegularOutputsUntouched() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let o = dir.file("o.npy")
        try AtomicFiles.write([(o, [1, 2, 3])])
        let message = ioError { try AtomicFiles.write([(o, [7, 7]), ("/dev/full", [8]), (dir.file("l.npy"), [9])]) }
        #expect(message == "/dev/full: cannot be written: No space left on device")
        #expect(try AtomicFiles.read(o) == [1, 2, 3])
        #expect(dir.contents == ["o.npy"], "no temporaries left")
    }

    @Test func sameDestinationTwiceIsRefused() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let same = dir.file("same.npy")
        // Not there yet: compared by folder and name.
        let twice = ioError { try AtomicFiles.write([(same, [1]), (same, [2])]) }
        #expect(twice?.contains("is the same file as another output") == true)
        #expect(ioError { try AtomicFiles.write([(same, [1]), (dir.path + "/./same.npy", [2])]) } != nil)
        #expect(dir.contents.isEmpty)
        try AtomicFiles.write([(same, [1])])
        // Existing: a symbolic link and a hard link are the same file too.
        try FileManager.default.createSymbolicLink(atPath: dir.file("sym.npy"), withDestinationPath: same)
        try FileManager.default.linkItem(atPath: same, toPath: dir.file("hard.npy"))
        for other in [dir.file("sym.npy"), dir.file("hard.npy"), dir.path + "/../" + URL(fileURLWithPath: dir.path).lastPathComponent + "/same.npy"] {
            #expect(ioError { try AtomicFiles.write([(same, [5]), (other, [6])]) } != nil, "\(other)")
        }
        #expect(throws: NpyError.io(path: dir.file("hard.npy"), reason: "--lse is the same file as --out (\(same)); give each output its own file")) {
            try AtomicFiles.checkDestinations([("--out", same), ("--lse", dir.file("hard.npy"))])
        }
        #expect(try AtomicFiles.read(same) == [1])
        #expect(dir.contents == ["same.npy", "sym.npy", "hard.npy"])
    }

    @Test func outputEqualToAnInputIsRefused() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let q = dir.file("q.npy")
        try AtomicFiles.write([(q, [1]), (dir.file("k.npy"), [2])])
        try FileManager.default.linkItem(atPath: q, toPath: dir.file("hard.npy"))
        try FileManager.default.createSymbolicLink(atPath: dir.file("sym.npy"), withDestinationPath: "q.npy")
        let inputs = [(flag: "--q", path: q), (flag: "--k", path: dir.file("k.npy"))]
        for spelling in [q, dir.path + "/./q.npy", dir.file("hard.npy"), dir.file("sym.npy")] {
            #expect(throws: NpyError.io(path: spelling, reason: "--out is the same file as --q (\(q)); refusing to overwrite an input")) {
                try AtomicFiles.checkDestinations([("--out", spelling)], inputs: inputs)
            }
        }
        #expect(throws: NpyError.self) {
            try AtomicFiles.checkDestinations([("--out", dir.file("o.npy")), ("--lse", dir.file("k.npy"))], inputs: inputs)
        }
        try AtomicFiles.checkDestinations([("--out", dir.file("o.npy")), ("--lse", "/dev/null")], inputs: inputs)
        #expect(try AtomicFiles.read(q) == [1])
    }

    @Test func realErrnoIsReported() throws {
        let dir = try TemporaryFolder(prefix: "atomic")
        defer { dir.remove() }
        let (o, l) = (dir.file("o.npy"), dir.file("l.npy"))
        // Make the second rename fail after staging: a non-empty folder appears where l.npy goes.
        let message = ioError {
            try AtomicFiles.write(
                [(o, [1]), (l, [2])],
                beforeRenaming: {
                    try? FileManager.default.createDirectory(atPath: l + "/inside", withIntermediateDirectories: true)
                })
        }
        #expect(message == "\(l): cannot be replaced: Is a directory; already written: \(o)")
        #expect(try AtomicFiles.read(o) == [1])
        #expect(dir.contents == ["o.npy", "l.npy"], "the second temporary is removed")
        // Failures to create name the system's reason too.
        #expect(ioError { try AtomicFiles.write([(dir.file("o.npy/x"), [1])]) }?.hasSuffix("Not a directory") == true)
    }
}
