import AttentionReference
import Foundation
import TestSupport
import Testing

@Suite struct SeededStreams {
    @Test func splitMix64GivesItsPublishedStream() {
        // The reference implementation's first outputs from seed 0 (Vigna, splitmix64.c).
        var g = SeededGenerator(seed: 0)
        #expect((0..<3).map { _ in g.next() } == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test func mmixLCGStepsTheCUDADriversRecurrence() {
        var g = SeededGenerator(seed: 5, algorithm: .mmixLCG)
        #expect((0..<3).map { _ in g.next() } == [0xCD9F_4061_7652_FD30, 0x23E6_E93B_8C88_D2BF, 0xD20C_8774_E92C_4DE2])
    }

    @Test func belowAndPickDrawOnceEach() {
        var a = SeededGenerator(seed: 12), b = SeededGenerator(seed: 12)
        let picks = (0..<100).map { _ in a.pick(["x", "y", "z"]) }
        #expect(picks == (0..<100).map { _ in ["x", "y", "z"][Int(b.next() % 3)] })
        let (zero, one) = (a.below(0), a.below(1))
        #expect(zero == 0 && one == 0 && a.state == b.state &+ 2 &* 0x9E37_79B9_7F4A_7C15)
    }

    @Test func randomArraysAreReproducibleAndInRange() {
        let x = randomArray(1000, seed: 9, in: -3...3)
        #expect(x == randomArray(1000, seed: 9, in: -3...3) && x != randomArray(1000, seed: 10, in: -3...3))
        #expect(x.allSatisfy { (-3...3).contains($0) } && Set(x).count == 1000)
    }
}

@Suite struct UlpErrors {
    @Test func errorsAreInUlpsOfTheNarrowFormatAtTheReference() {
        #expect(ulpError(Float(1), reference: 1.0 + 0x1p-24) == 0.5)
        #expect(ulpError(Float(1).nextUp, reference: 1.0) == 1)
        #expect(ulpError(1.0, reference: 1.0 + 3 * 0x1p-23, in: Float.self) == 3)
        #expect(ulpError(1.0, reference: 1.0 + 0x1p-11, in: Precision.fp16) == 0.5)
        #expect(ulpError(1.0, reference: 1.0 + 0x1p-7, in: Precision.bf16) == 1)
    }

    @Test func doubleAgainstTheWiderType() {
        let third = WideReal(1) / 3
        #expect(ulpError(1.0 / 3, reference: third) <= 0.5)
        #expect(ulpError((1.0 / 3).nextUp, reference: third) > 0.5)
    }

    @Test func subnormalsAreMeasuredInTheSubnormalSpacing() {
        let tiny = Double(Float.leastNonzeroMagnitude)
        #expect(ulpError(Float(0), reference: tiny / 4) == 0)  // rounds to +0: underflow is allowed
        #expect(ulpError(Float.leastNonzeroMagnitude * 2, reference: tiny) == 1)
        #expect(ulpError(0.0, reference: 0x1p-25, in: Precision.fp16) == 0)
        #expect(ulpError(0x1p-24, reference: 0x1p-23, in: Precision.fp16) == 1)
    }

    @Test func specialValues() {
        #expect(ulpError(Float.nan, reference: Double.nan) == 0)
        #expect(ulpError(Float.nan, reference: 1.0) == .infinity)
        #expect(ulpError(Float(1), reference: Double.nan) == .infinity)
        #expect(ulpError(Float(-0.0), reference: 1e-300) == .infinity)  // through zero
        #expect(ulpError(Float.infinity, reference: 1e300) == 0)  // overflows in Float too
        #expect(ulpError(Float(-0.0), reference: 0.0) == 0)
        // A finite value against an infinite reference, an infinity against a finite one.
        #expect(ulpError(Float.greatestFiniteMagnitude, reference: Double.infinity) == .infinity)
        // (one binade down: ∞ stands for 2^(emax+1), one ulp above the largest finite value)
        #expect(ulpError(Float.infinity, reference: Double(Float.greatestFiniteMagnitude)) == 1)
        #expect(ulpError(.infinity, reference: 65504, in: Precision.fp16) == 1)
        #expect(ulpError(65504, reference: 70000, in: Precision.fp16) == 0.5)  // 70000 rounds to +∞ in fp16
        #expect(ulpError(448, reference: 1e6, in: Precision.fp8e4m3) > 1000)  // saturates, no ∞
    }

    @Test func worstOfAnArray() {
        let ref = [1.0, 2.0, 4.0]
        let got = maxUlpError([1.0, 2.0 + 0x1p-22, 4.0], reference: ref, in: Precision.fp32)
        #expect(got.ulps == 1 && got.index == 1)
        #expect(maxUlpError([Float](), reference: [Double]()).index == nil)
    }
}

@Suite struct DataFiles {
    @Test func csvRowsAreReadByColumn() throws {
        let t = try CSVTable(text: "a,b,c\n1,\"x, \"\"y\"\"\",true\n\n2,z,false\n", source: "t.csv")
        #expect(t.header == ["a", "b", "c"] && t.rows.count == 2)
        #expect(try t.rows[0].int("a") == 1 && t.rows[0].string("b") == "x, \"y\"" && t.rows[0].bool("c"))
        #expect(try t.rows[1].line == 4 && t.rows[1].double("a") == 2)
    }

    @Test func malformedCSVFailsWithFileLineAndColumn() throws {
        #expect(throws: TestDataError("t.csv:3: 2 fields where the header has 3: 1,2")) {
            try CSVTable(text: "a,b,c\n1,2,3\n1,2\n", source: "t.csv")
        }
        let row = try CSVTable(text: "a,b\nx,1.5\n", source: "t.csv").rows[0]
        #expect(throws: TestDataError("t.csv:2: column 'a' is 'x', not an integer")) { try row.int("a") }
        #expect(throws: TestDataError("t.csv:2: column 'b' is '1.5', not true or false")) { try row.bool("b") }
        #expect(throws: TestDataError("t.csv: no column 'c' (columns: a, b)")) { try row.string("c") }
        #expect(throws: TestDataError.self) { try CSVTable(text: "a,b\n\"x,1\n", source: "t.csv") }
        #expect(throws: TestDataError.self) { try CSVTable(text: "", source: "t.csv") }
    }

    struct Manifest: Decodable {
        struct Entry: Decodable { var name: String; var n: Int }
        var entries: [Entry]
    }

    @Test func malformedJSONFailsWithFileAndKeyPath() {
        let bad = Data(#"{"entries": [{"name": "a", "n": 1}, {"name": "b", "n": "two"}]}"#.utf8)
        do {
            _ = try decodeJSON(Manifest.self, from: bad, source: "m.json")
            Issue.record("decoded")
        } catch {
            #expect("\(error)".hasPrefix("m.json: entries[1].n is not Int"), "\(error)")
        }
        #expect(throws: TestDataError("m.json: entries[0] has no key 'n'")) {
            try decodeJSON(Manifest.self, from: Data(#"{"entries": [{"name": "a"}]}"#.utf8), source: "m.json")
        }
    }
}

@Suite struct RepositoryPaths {
    @Test func rootHoldsThePackageAndTheDataFolders() {
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: Repo.path("Package.swift")))
        #expect(fm.fileExists(atPath: Repo.hardwareModel("h100-sxm").path))
        #expect(fm.fileExists(atPath: Repo.gpuReports.appendingPathComponent("traffic.csv").path))
    }

    @Test func theBuiltBinaryRuns() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Repo.iosim.path), "\(Repo.iosim.path)")
        let r = try Repo.run(["--help"])
        #expect(r.status == 0 && r.out.contains("USAGE"), "\(r.err)")
        #expect(try Repo.execute(["--help"]).stdout == Data(r.out.utf8))
    }

    @Test func processesAndTemporaryFolders() throws {
        let dir = try TemporaryFolder(prefix: "support")
        defer { dir.remove() }
        try Data("hi".utf8).write(to: URL(fileURLWithPath: dir.file("a.txt")))
        #expect(dir.contents == ["a.txt"])
        let r = try runTool("sh", ["-c", "cat a.txt; echo oops >&2; exit 3"], in: dir.url)
        #expect(r.status == 3 && r.out == "hi" && r.err == "oops\n")
        let env = try runTool("sh", ["-c", "printf %s \"$SUPPORT_TEST\""], environment: ["SUPPORT_TEST": "set"])
        #expect(env.out == "set")
        dir.remove()
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }
}
