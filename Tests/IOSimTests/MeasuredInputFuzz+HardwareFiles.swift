import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The hardware-file fuzzers (`HardwareModel(json:path:)`); see ``MeasuredInputFuzz``.
extension MeasuredInputFuzz {
    // MARK: - Hardware model files

    /// A model file as (key, JSON text) pairs in the file's order, so that a value can be replaced
    /// by any text, valid JSON or not.
    static func fields(_ name: String) throws -> [(key: String, text: String)] {
        let data = try Data(contentsOf: Repo.hardwareModel(name))
        guard case let .object(o) = try StrictJSON.parse([UInt8](data)) else { throw TestDataError("\(name): not an object") }
        // The file's key order (StrictJSON's object is a dictionary).
        let text = String(decoding: data, as: UTF8.self)
        let keys = o.keys.sorted { text.range(of: "\"\($0)\"")!.lowerBound < text.range(of: "\"\($1)\"")!.lowerBound }
        return keys.map { ($0, json(o[$0]!)) }
    }

    static func json(_ v: StrictJSON) -> String {
        switch v {
        case .null: "null"
        case let .bool(b): b ? "true" : "false"
        case let .number(x): x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
        case let .string(s): quote(s)
        case let .array(a): "[" + a.map(json).joined(separator: ", ") + "]"
        case let .object(o): "{" + o.keys.sorted().map { quote($0) + ": " + json(o[$0]!) }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func document(_ fields: [(key: String, text: String)]) -> Data {
        Data(("{\n" + fields.map { "  " + quote($0.key) + ": " + $0.text }.joined(separator: ",\n") + "\n}\n").utf8)
    }

    static let hardwareTokens = [
        "0", "-1", "-0", "1e-300", "1e300", "4.9e-324", "1e400", "NaN", "\"fast\"", "\"\"", "\"132\"", "true", "false", "null", "{\"a\": 1}",
        "{}", "[]", "[1, 2]", "99999999999999999999999999", "1.5", "0.5", "2.5e3", "1e-6", "1e-7", "999.9", "1000", "1e3", "1e11", "1.0000001e11",
        "1e19", "2e19", "65536", "65537", "1099511627776", "1099511627777", "1e-12", "9e-13", "1E3", "0x10", "1e", "1.", "01",
    ]

    /// Fields a file may have besides its own (the optional groups), to add.
    static let optionalFields = [
        "latency_l1_hit_s", "latency_l2_hit_s", "latency_dram_s", "tile_burst_4kib_s", "tile_burst_16kib_s", "tile_burst_32kib_s",
        "hmma_latency_cycles", "cross_warp_round_trip_cycles", "fmnmx_latency_cycles", "shfl_bfly_latency_cycles",
        "mufu_ex2_latency_cycles", "fadd_latency_cycles", "wgmma_cycles_lost_per_softmax_cycle", "softmax_cycles_lost_per_wgmma_cycle",
        "unknown_field",
    ]

    /// The schedules whose estimates the fuzzer takes, simulated once (the counts do not depend
    /// on the GPU at a fixed M): fa2 pipelined and unpipelined, fa1, fa3, standard, split-kv, and
    /// paged decode (which reads the latencies).
    static func estimateCases() -> [(name: String, result: ScheduleResult, problem: AttentionProblem)] {
        let p = AttentionProblem(n: 256, d: 64, batch: 1, heads: 2)
        var paged = AttentionProblem(n: 1, nk: 512, d: 64, batch: 2, heads: 4)
        paged.kvLayout = .paged
        let m = 256 * 1024
        let kinds: [(String, ScheduleKind?, AttentionProblem, TileRequest)] = [
            ("fa2", .fa2, p, TileRequest(br: 64, bc: 64)), ("fa2 stages 1", .fa2, p, TileRequest(br: 64, bc: 64, stages: 1)),
            ("fa1", ScheduleKind(rawValue: "fa1"), p, TileRequest(br: 64, bc: 64)), ("fa3", .fa3, p, TileRequest(br: 64, bc: 64)),
            ("standard", ScheduleKind(rawValue: "standard"), p, TileRequest(br: 64, bc: 64)),
            ("split-kv", ScheduleKind(rawValue: "split-kv"), p, TileRequest(br: 64, bc: 64, splits: 2)),
            ("paged-v1", ScheduleKind(rawValue: "paged-v1"), paged, TileRequest()),
        ]
        return kinds.compactMap { name, kind, problem, tiles in
            kind.map { (name, Simulator.simulate($0, problem, capacity: m, tiles: tiles), problem) }
        }
    }

    /// What a model that was read must give: every figure positive and finite, and a finite,
    /// positive estimate wherever it gives one (fa2's always: every file has an fp16 rate).
    static func modelViolation(_ hw: HardwareModel, _ cases: [(name: String, result: ScheduleResult, problem: AttentionProblem)]) -> String? {
        let figures: [(String, Double)] =
            [
                ("sms", Double(hw.sms)), ("smem_per_sm", Double(hw.smemPerSM)), ("smem_per_block", Double(hw.smemPerBlock)),
                ("registers", Double(hw.registersPerSM)), ("bandwidth", hw.hbmBandwidth), ("l2", Double(hw.l2Bytes)),
                ("exp", hw.expPerClockPerSM), ("fp32", hw.fp32PerClockPerSM), ("clock", hw.clockHz),
            ] + hw.tensorFlops.map { ("tensor \($0.key)", $0.value) }
        if let (name, x) = figures.first(where: { !($0.1.isFinite && $0.1 > 0) }) { return "\(name) = \(x)" }
        if hw.smemPerBlock > hw.smemPerSM { return "a block's shared memory above the SM's" }
        for c in cases {
            do {
                let b = try TimeEstimate.estimate(c.result, c.problem, hw)
                if c.name == "fa2" && b == nil { return "no fa2 estimate" }
                if let b, !(b.seconds.isFinite && b.seconds > 0 && b.hbmBytes.isFinite) { return "\(c.name) estimate \(b.seconds) s" }
            } catch {
                if c.name == "fa2" { return "fa2 estimate refused: \(error)" }
            }
        }
        return nil
    }

    @Test func mutatedHardwareFilesAreRefusedOrGiveFiniteEstimates() throws {
        let seeds = [("h100-sxm", try Self.fields("h100-sxm")), ("a100-80gb", try Self.fields("a100-80gb"))]
        let cases = Self.estimateCases()
        #expect(cases.count == 7 && cases.allSatisfy(\.result.feasible))
        for (name, fields) in seeds {
            let hw = try HardwareModel(json: Self.document(fields), path: name)
            #expect(Self.modelViolation(hw, cases) == nil, "\(name) as written")
        }
        let budget = Budget(salt: 3)
        var rng = SeededGenerator(seed: budget.seed)
        var (accepted, refused, iterations) = (0, 0, 0)
        while iterations < Self.iterationCap && !budget.expired {
            iterations += 1
            let (name, original) = rng.pick(seeds)
            var fields = original
            var edits: [String] = []
            // A third of the inputs get only edits that may keep the file valid.
            let plausible = rng.below(3) == 0
            for _ in 0..<(1 + rng.below(plausible ? 3 : 4)) {
                let i = rng.below(fields.count)
                switch plausible ? rng.pick([1, 1, 2]) : rng.below(8) {
                case 0:
                    edits.append("delete \(fields[i].key)")
                    fields.remove(at: i)
                case 1:
                    // Scale a number (just inside or outside a range).
                    guard let x = Double(fields[i].text) else { continue }
                    let f =
                        plausible ? rng.pick([1e-6, 1e-3, 0.5, 0.999, 1.001, 2, 1e3]) : rng.pick([1e-9, 1e-3, 0.5, 0.999, 1.001, 2, 1e3, 1e9, -1])
                    fields[i].text = "\(x * f)"
                    edits.append("\(fields[i].key) ×\(f)")
                case 2:
                    let key = rng.pick(Self.optionalFields)
                    fields.append(
                        (key, plausible ? rng.pick(["1e-7", "5e-7", "20.5", "1e-6"]) : rng.pick(Self.hardwareTokens + ["1e-7", "5e-7", "20.5"])))
                    edits.append("add \(key) = \(fields.last!.text)")
                case 3:
                    // A key twice (StrictJSON refuses it).
                    fields.append((fields[i].key, rng.pick(Self.hardwareTokens)))
                    edits.append("\(fields[i].key) twice")
                default:
                    fields[i].text = rng.pick(Self.hardwareTokens)
                    edits.append("\(fields[i].key) = \(fields[i].text)")
                }
            }
            guard !fields.isEmpty else { continue }
            do {
                let hw = try HardwareModel(json: Self.document(fields), path: "fuzz.json")
                accepted += 1
                let v = Self.modelViolation(hw, cases)
                #expect(v == nil, "seed \(budget.seed) iteration \(iterations): \(name) \(edits): \(v ?? "")")
            } catch {
                refused += 1
                #expect(error.description.hasPrefix("fuzz.json") || error.description.contains("fuzz.json"), "\(error)")
            }
        }
        #expect(iterations >= 50 && accepted > 0 && refused > 0, "\(iterations) inputs: \(accepted) read, \(refused) refused")
    }

    /// Values of the wrong JSON type for a required top-level field (null is right for the two
    /// nullable rates).
    static func wrongType(_ key: String, _ rng: inout SeededGenerator) -> String {
        switch key {
        case "name": rng.pick(["1", "true", "null", "{}", "[]", "\"\""])
        case "has_wgmma_tma": rng.pick(["1", "0", "\"yes\"", "null", "{}", "[true]"])
        case "sources": rng.pick(["1", "\"cited\"", "[]", "true", "null"])
        case "tensor_flops_fp8", "tensor_flops_mma_sync": rng.pick(["\"fast\"", "true", "{}", "[]"])
        default: rng.pick(["\"fast\"", "true", "false", "null", "{}", "[1]"])
        }
    }

    @Test func kBrokenRequiredFieldsAreAllNamedInOneError() throws {
        let seeds = [try Self.fields("h100-sxm"), try Self.fields("a100-80gb")]
        let required = HardwareModel.fields
        let budget = Budget(salt: 4)
        var rng = SeededGenerator(seed: budget.seed)
        var iterations = 0
        while iterations < 400 && !budget.expired {
            iterations += 1
            var fields = rng.pick(seeds)
            let k = 2 + rng.below(5)
            var broken: [String] = []
            while broken.count < k {
                let f = rng.pick(required)
                if !broken.contains(f) { broken.append(f) }
            }
            for f in broken {
                let i = try #require(fields.firstIndex { $0.key == f })
                fields[i].text = Self.wrongType(f, &rng)
            }
            let values = broken.map { key in "\(key) = \(fields.first { $0.key == key }!.text)" }
            let context = "seed \(budget.seed) iteration \(iterations): \(values)"
            do {
                _ = try HardwareModel(json: Self.document(fields), path: "k.json")
                Issue.record("accepted: \(context)")
            } catch {
                guard case let .several(path, errors) = error else {
                    Issue.record("one error for \(k) broken fields: \(error); \(context)")
                    continue
                }
                let named = Set(errors.compactMap(\.field))
                #expect(path == "k.json" && errors.count >= k, "\(errors.count) errors: \(context)")
                #expect(named.isSuperset(of: broken), "named \(named.sorted()): \(context)")
                #expect(error.description.hasPrefix("k.json: \(errors.count) errors: "), "\(error.description)")
                for f in broken { #expect(error.description.contains("'\(f)'"), "\(f) not in \(error.description)") }
            }
        }
        #expect(iterations >= 20)
    }
}
