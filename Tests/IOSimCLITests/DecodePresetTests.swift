import Foundation
import IOSim
import TestSupport
import Testing

/// Decode presets (`Models/workloads/*-decode-*.json`): a base shape file plus Nq, Nk and batch,
/// which `--model` applies where --N, --Nk and --batch are not given.
@Suite struct DecodePresets {
    /// Writes `json` to a fresh temporary file beside a copy of the Llama-3 8B shape file (a
    /// preset's base is looked up beside it first).
    func file(_ json: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iosim-presets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Repo.workloadModel("llama-3-8b"), to: dir.appendingPathComponent("shape.json"))
        let path = dir.appendingPathComponent("preset.json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func parse(_ path: String) throws -> WorkloadModel {
        try WorkloadModel(json: Data(contentsOf: URL(fileURLWithPath: path)), path: path)
    }

    @Test func llama3PresetsCoverEveryContextAndBatchWithTheirBaseShape() throws {
        for model in ["llama-3-8b", "llama-3-70b"] {
            let base = try parse(Repo.workloadModel(model).path)
            #expect(base.decode == nil)
            for (context, nk) in [("8k", 8192), ("32k", 32768), ("128k", 131_072)] {
                for (suffix, batch) in [("", 1), ("-b64", 64)] {
                    let preset = try parse(Repo.workloadModel("\(model)-decode-\(context)\(suffix)").path)
                    #expect((preset.heads, preset.kvHeads, preset.d) == (base.heads, base.kvHeads, base.d))
                    #expect(preset.decode == WorkloadModel.Decode(nq: 1, nk: nk, batch: batch), "\(model) \(context)\(suffix)")
                }
            }
        }
    }

    @Test func presetFillsTheProblemLine() throws {
        let r = CLI.run(["--model", "llama-3-8b-decode-32k", "--schedule", "decode"])
        #expect(r.status == 0, "\(r.err)")
        // Llama-3 8B: 32 query heads, 8 KV heads, d = 4096 / 32; one query row against 32K keys.
        #expect(r.out.hasPrefix("problem: N=1 Nk=32768 d=128 batch=1 heads=32 kv_heads=8 "), "\(r.out)")
        let b64 = CLI.run(["--model", "llama-3-70b-decode-128k-b64", "--schedule", "fa2"])
        #expect(b64.out.hasPrefix("problem: N=1 Nk=131072 d=128 batch=64 heads=64 kv_heads=8 "), "\(b64.out)")
    }

    @Test func explicitFlagsWinOverThePreset() throws {
        let r = CLI.run(["--model", "llama-3-8b-decode-32k", "--N", "4", "--Nk", "1000", "--batch", "3", "--kv-heads", "4", "--schedule", "fa2"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("problem: N=4 Nk=1000 d=128 batch=3 heads=32 kv_heads=4 "), "\(r.out)")
        // A sweep over N keeps the preset's cache and batch.
        let sweep = CLI.run(["sweep", "--model", "llama-3-8b-decode-8k", "--N", "1,2", "--schedule", "fa2", "--M", "200KB"])
        #expect(sweep.status == 0, "\(sweep.err)")
        let rows = sweep.out.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.map { [$0[2], $0[3], $0[5]] } == [["1", "8192", "1"], ["2", "8192", "1"]])
    }

    @Test func decodeSchedulesAllGetATimeWithHardware() throws {
        let r = CLI.run([
            "--model", "llama-3-8b-decode-32k-b64", "--pack-gqa", "--schedule", "decode", "--hardware", "h100-sxm", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.err)")
        let results = try #require((try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])?["results"] as? [[String: Any]])
        #expect(results.map { $0["schedule"] as? String } == ScheduleKind.decode.map(\.rawValue))
        for result in results { #expect((result["time_estimate_s"] as? Double ?? 0) > 0, "\(result["schedule"] ?? "")") }
    }

    @Test func aPresetNamesItsBaseOrTheWholeShapeNeverBoth() throws {
        let good = try parse(try file(#"{"name": "p", "base": "shape", "Nq": 2, "Nk": 100, "batch": 3, "sources": {}}"#))
        #expect((good.heads, good.kvHeads, good.d, good.decode) == (32, 8, 128, WorkloadModel.Decode(nq: 2, nk: 100, batch: 3)))
        let both = try file(#"{"name": "p", "base": "shape", "heads": 4, "Nq": 1, "Nk": 100, "batch": 1, "sources": {}}"#)
        #expect(throws: ModelError.wrongType(path: both, field: "heads", expected: "absent when 'base' is given (the base file gives the shape)")) {
            try parse(both)
        }
        let neither = try file(#"{"name": "p", "Nq": 1, "Nk": 100, "batch": 1, "sources": {}}"#)
        #expect(throws: ModelError.missingField(path: neither, field: "heads")) { try parse(neither) }
        let lost = try file(#"{"name": "p", "base": "no-such-shape", "Nq": 1, "Nk": 100, "batch": 1, "sources": {}}"#)
        #expect(throws: ModelError.self) { try parse(lost) }
    }

    @Test func decodeFieldsComeTogetherAndWithinIosimsLimits() throws {
        let partial = try file(#"{"name": "p", "base": "shape", "Nq": 1, "Nk": 100, "sources": {}}"#)
        #expect(throws: ModelError.missingField(path: partial, field: "batch")) { try parse(partial) }
        for (field, value) in [("Nq", "0"), ("Nk", "1.5"), ("batch", "true"), ("Nk", "\(Limits.maxSequence + 1)")] {
            var fields = ["Nq": "1", "Nk": "100", "batch": "1"]
            fields[field] = value
            let path = try file(
                #"{"name": "p", "base": "shape", "Nq": \#(fields["Nq"]!), "Nk": \#(fields["Nk"]!), "batch": \#(fields["batch"]!), "sources": {}}"#)
            #expect(throws: ModelError.self, "\(field) = \(value)") { try parse(path) }
            let r = CLI.run(["--model", path])
            #expect(r.status == 1 && r.err.hasPrefix("iosim: \(path): field '\(field)'"), "\(r.err)")
        }
    }

    @Test func aBaseMustBeAShapeFile() throws {
        let chained = try file(#"{"name": "p", "base": "preset", "Nq": 1, "Nk": 100, "batch": 1, "sources": {}}"#)
        #expect(throws: ModelError.self) { try parse(chained) }
        let r = CLI.run(["--model", chained])
        #expect(r.status == 1 && r.err.contains("field 'base'") && r.err.split(separator: "\n").count == 1, "\(r.err)")
    }
}
