import Foundation
import IOSim
import TestSupport
import Testing

/// `iosim kv-memory`: §13's JSON, the same numbers in CSV, a lengths file read as its list, and
/// every bad input one line with exit 64.
@Suite struct KVMemoryCLI {
    static func json(_ args: [String]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(jsonText(args).utf8)) as? [String: Any])
    }

    static func jsonText(_ args: [String]) throws -> String {
        let r = CLI.run(["kv-memory", "--format", "json"] + args)
        #expect(r.status == 0, "\(r.err)")
        return r.out
    }

    /// The JSON's policies are exactly §13's fields, in order reserve, paged, pow2, with the bytes
    /// the definitions give for the model file's shape.
    @Test func jsonHasSection13sFieldsAndTheDefinitionsBytes() throws {
        let lengths = [4096, 512, 77, 2049]
        let args = ["--model", "llama-2-7b", "--lengths", lengths.map(String.init).joined(separator: ",")]
        let obj = try Self.json(args)
        let text = try Self.jsonText(args)
        let model = try ModelFile.workload("llama-2-7b")
        let perToken = 2 * (model.layers ?? 0) * model.kvHeads * model.d * DType.fp16.size
        let problem = try #require(obj["problem"] as? [String: Any])
        #expect(problem["bytes_per_token"] as? Int == perToken && problem["batch"] as? Int == lengths.count)
        let policies = try #require(obj["policies"] as? [[String: Any]])
        #expect(policies.map { $0["policy"] as? String } == ["reserve", "paged", "pow2"])
        for p in policies {
            #expect(Set(p.keys) == ["policy", "allocated_bytes", "used_bytes", "wasted_bytes", "utilization"])
        }
        let used = lengths.reduce(0, +) * perToken
        let slots = [
            lengths.count * lengths.max()!,  // reserve: the longest, the default --max-len
            lengths.map { ($0 + 15) / 16 * 16 }.reduce(0, +),  // paged, blocks of 16
            lengths.map { l in
                var c = 2048; while c < l { c *= 2 }; return c
            }.reduce(0, +),  // pow2 from 2048
        ]
        for (p, s) in zip(policies, slots) {
            #expect(p["allocated_bytes"] as? Int == s * perToken && p["used_bytes"] as? Int == used)
            #expect(p["wasted_bytes"] as? Int == s * perToken - used)
            // Foundation's JSON reader may round the last digit: the printed text is what is compared.
            #expect(text.contains(#""wasted_bytes": \#(s * perToken - used), "utilization": \#(Double(used) / Double(s * perToken))}"#))
        }
    }

    @Test func aLengthsFileGivesWhatItsListGivesAndCSVAgreesWithJSON() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("lengths.txt")
        try "300\n17\n4100\n".write(to: file, atomically: true, encoding: .utf8)
        let args = ["--model", "llama-3-8b", "--block-size", "32", "--initial", "256", "--max-len", "8192"]
        let fromFile = try Self.jsonText(args + ["--lengths", file.path])
        #expect(fromFile == (try Self.jsonText(args + ["--lengths", "300,17,4100"])))
        let csv = CLI.run(["kv-memory", "--format", "csv", "--lengths", file.path] + args)
        let rows = csv.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        #expect(rows.count == 1 + 3)
        // Each CSV row is one of the JSON's policy objects, digit for digit.
        for row in rows.dropFirst() {
            var cells: [String] = []
            for key in ["policy", "allocated_bytes", "used_bytes", "wasted_bytes", "utilization"] {
                let cell = row[try #require(header.firstIndex(of: key))]
                cells.append("\"\(key)\": " + (key == "policy" ? "\"\(cell)\"" : cell))
            }
            #expect(fromFile.contains("{" + cells.joined(separator: ", ") + "}"), "\(row)")
        }
    }

    @Test func aBatchWithoutLengthsIsThatManySequencesOfMaxLen() throws {
        let obj = try Self.json(["--model", "gpt-2-small", "--batch", "5", "--max-len", "1000"])
        let policies = try #require(obj["policies"] as? [[String: Any]])
        #expect(policies[0]["utilization"] as? Double == 1)
        #expect((obj["problem"] as? [String: Any])?["tokens"] as? Int == 5000)
    }

    @Test(arguments: [
        ["--lengths", "4,5", "--block-size", "0"], ["--lengths", "4,5", "--batch", "3"], ["--lengths", "4,0"],
        ["--lengths", "9", "--max-len", "8"], ["--batch", "4"], ["--lengths", "4", "--initial", "-1"],
        ["--lengths", "16777217"],
    ])
    func badInputIsOneLineAndExit64(args: [String]) throws {
        let r = CLI.run(["kv-memory", "--model", "llama-2-7b"] + args)
        #expect(ExitCodes.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
    }

    @Test func aBadFileLineIsNamedWithItsFlag() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("l.txt")
        try "12\n40\nabc\n".write(to: file, atomically: true, encoding: .utf8)
        let r = CLI.run(["kv-memory", "--model", "llama-2-7b", "--lengths", file.path])
        #expect(ExitCodes.oneLine(r, status: 64) && r.err.hasPrefix("iosim: --lengths: line 3 of l.txt: \"abc\""), "\(r.err)")
    }

    @Test func anInt64OverflowIsOneLineNotATrap() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("huge.json")
        try #"{"name": "huge", "heads": 16777216, "kv_heads": 16777216, "d": 16384, "layers": 65536, "sources": {"layers": "test"}}"#
            .write(to: model, atomically: true, encoding: .utf8)
        let r = CLI.run(["kv-memory", "--model", model.path, "--lengths", "100,200", "--dtype", "fp64"])
        #expect(ExitCodes.oneLine(r, status: 64) && r.err.contains("2^63 - 1"), "\(r.err)")
    }

    @Test func aModelWithoutLayersIsARunFailureNamingTheField() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("nolayers.json")
        try #"{"name": "x", "heads": 4, "kv_heads": 4, "d": 8, "sources": {}}"#.write(to: model, atomically: true, encoding: .utf8)
        let r = CLI.run(["kv-memory", "--model", model.path, "--lengths", "10"])
        #expect(ExitCodes.oneLine(r, status: 1) && r.err.contains("'layers'"), "\(r.err)")
    }

    @Test func helpMatchesItsSnapshot() throws {
        let r = CLI.run(["kv-memory", "--help"])
        #expect(r.status == 0)
        try Snapshots.check("help-kv-memory.txt", r.out)
    }
}
