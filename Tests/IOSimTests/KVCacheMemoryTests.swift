import Foundation
import IOSim
import TestSupport
import Testing

/// KV-cache memory per policy: each policy's slots against its definition, bytes as slots ×
/// bytes per token, the limits and Int64 overflow refused, and workload files' `layers`.
@Suite struct KVCacheMemoryPolicies {
    static let shape = KVCacheShape(layers: 32, kvHeads: 32, d: 128, dtype: .fp16)

    @Test func pagedHoldsTheSmallestMultipleOfTheBlockThatFits() {
        for b in [1, 7, 16, 256] {
            for l in 1...600 {
                let c = KVCacheMemory.capacity(.paged, length: l, KVCachePolicyParameters(maxLength: 600, blockSize: b, initial: 1))
                #expect(c % b == 0 && c >= l && c - b < l, "b=\(b) L=\(l): \(c)")
            }
        }
    }

    @Test func pow2DoublesFromInitialUntilTheSequenceFits() {
        for initial in [1, 3, 2048] {
            for l in Array(1...5000) + [Limits.maxSequence] {
                let c = KVCacheMemory.capacity(.pow2, length: l, KVCachePolicyParameters(maxLength: l, blockSize: 16, initial: initial))
                #expect(c >= l && c % initial == 0 && (c / initial).nonzeroBitCount == 1, "initial=\(initial) L=\(l): \(c)")
                // The smallest such capacity: half of it (when above initial) does not fit.
                #expect(c == initial || c / 2 < l, "initial=\(initial) L=\(l): \(c)")
            }
        }
    }

    @Test func pow2StepsFallJustPastEachCapacityAndTheFirstPast2048() {
        let steps = KVCacheMemory.pow2Steps(initial: 2048, upTo: 32768)
        #expect(steps.map(\.length) == [2049, 4097, 8193, 16385])
        #expect(steps.map(\.capacity) == [4096, 8192, 16384, 32768])
        let p = KVCachePolicyParameters(maxLength: 1 << 20, blockSize: 16, initial: 2048)
        for s in steps {
            #expect(KVCacheMemory.capacity(.pow2, length: s.length - 1, p) == s.capacity / 2)
            #expect(KVCacheMemory.capacity(.pow2, length: s.length, p) == s.capacity)
        }
    }

    @Test func bytesAreSlotsTimesKAndVOfEveryLayerAndHead() throws {
        #expect(try Self.shape.bytesPerToken() == 2 * 32 * 32 * 128 * 2)
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<20 {
            let values = (0..<(1 + rng.below(200))).map { _ in 1 + rng.below(9000) }
            let lengths = try SequenceLengths(values)
            let p = KVCachePolicyParameters(maxLength: lengths.max + rng.below(100), blockSize: 1 + rng.below(64), initial: 1 + rng.below(4096))
            let usage = try KVCacheMemory.usage(lengths, shape: Self.shape, p)
            let perToken = try Self.shape.bytesPerToken()
            #expect(usage.map(\.policy) == KVAllocationPolicy.allCases)
            for u in usage {
                let slots = values.map { KVCacheMemory.capacity(u.policy, length: $0, p) }.reduce(0, +)
                #expect(u.allocatedTokens == slots && u.allocatedBytes == slots * perToken)
                #expect(u.usedTokens == values.reduce(0, +) && u.usedBytes == u.usedTokens * perToken)
                #expect(u.wastedBytes == u.allocatedBytes - u.usedBytes && u.wastedBytes >= 0)
                #expect(u.utilization == Double(u.usedBytes) / Double(u.allocatedBytes))
            }
            #expect(usage[0].allocatedTokens == values.count * p.maxLength)
        }
    }

    @Test func aPolicyWithNoSlackUsesEverySlot() throws {
        let uniform = try SequenceLengths(uniform: 4096, batch: 8)
        let usage = try KVCacheMemory.usage(uniform, shape: Self.shape, KVCachePolicyParameters(maxLength: 4096, blockSize: 16, initial: 4096))
        #expect(usage.allSatisfy { $0.wastedBytes == 0 && $0.utilization == 1 })
        let ragged = try SequenceLengths([1, 17, 333])
        let blockOne = try KVCacheMemory.usage(ragged, shape: Self.shape, KVCachePolicyParameters(maxLength: 333, blockSize: 1, initial: 1))
        #expect(blockOne[1].utilization == 1)
    }

    @Test func refusalsNameTheirCause() throws {
        let l = try SequenceLengths([10, 20])
        #expect(throws: KVCacheMemoryError.maxLengthBelowLongest(maxLength: 19, longest: 20)) {
            try KVCacheMemory.usage(l, shape: Self.shape, KVCachePolicyParameters(maxLength: 19, blockSize: 16, initial: 1))
        }
        #expect(throws: KVCacheMemoryError.parameterOutOfRange(name: "the block size", value: 0, limit: Limits.maxSequence)) {
            try KVCacheMemory.usage(l, shape: Self.shape, KVCachePolicyParameters(maxLength: 20, blockSize: 0, initial: 1))
        }
        // 2·2¹⁶ layers·2²⁴ heads·2¹⁴·8 bytes = 2⁵⁸ per token: reserve's 2·20 = 40 slots leave Int64 (2⁶³ = 32·2⁵⁸).
        let huge = KVCacheShape(layers: Limits.maxLayers, kvHeads: Limits.maxBatchOrHeads, d: Limits.maxHeadDim, dtype: .fp64)
        #expect(try huge.bytesPerToken() == 1 << 58)
        let error = #expect(throws: KVCacheMemoryError.self) {
            try KVCacheMemory.usage(l, shape: huge, KVCachePolicyParameters(maxLength: 20, blockSize: 16, initial: 1))
        }
        guard case .overflow = error else { Issue.record("\(String(describing: error))"); return }
    }
}

/// `layers` in workload files: every shape file gives it with a source, presets take their base's,
/// and a bad value is refused with the field named.
@Suite struct WorkloadLayers {
    static func model(_ json: String, _ path: String = "w.json") throws -> WorkloadModel {
        try WorkloadModel(json: Data(json.utf8), path: path) { (_: String) throws(ModelError) -> WorkloadModel in
            try WorkloadModel(
                json: Data(#"{"name": "b", "heads": 4, "kv_heads": 4, "d": 8, "layers": 6, "sources": {"layers": "x"}}"#.utf8), path: "b.json")
        }
    }

    @Test func everyShapeFileGivesLayersWithASource() throws {
        let dir = Repo.models.appendingPathComponent("workloads")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".json") {
            let w = try ModelFile.workload(dir.appendingPathComponent(file).path)
            #expect(w.layers != nil, "\(file)")
        }
    }

    @Test func llama2SevenBIsThePaperModel() throws {
        let w = try ModelFile.workload("llama-2-7b")
        #expect(w.layers == 32 && w.heads == 32 && w.kvHeads == 32 && w.d == 128)
    }

    @Test func aPresetTakesItsBasesLayers() throws {
        #expect(try Self.model(#"{"name": "p", "base": "b", "Nq": 1, "Nk": 8, "batch": 1, "sources": {}}"#).layers == 6)
        #expect(throws: ModelError.self) {
            try Self.model(#"{"name": "p", "base": "b", "layers": 3, "Nq": 1, "Nk": 8, "batch": 1, "sources": {"layers": "x"}}"#)
        }
    }

    @Test(arguments: [
        #"{"name": "m", "heads": 4, "kv_heads": 4, "d": 8, "layers": 0, "sources": {"layers": "x"}}"#,
        #"{"name": "m", "heads": 4, "kv_heads": 4, "d": 8, "layers": 2.5, "sources": {"layers": "x"}}"#,
        #"{"name": "m", "heads": 4, "kv_heads": 4, "d": 8, "layers": 65537, "sources": {"layers": "x"}}"#,
        #"{"name": "m", "heads": 4, "kv_heads": 4, "d": 8, "layers": 12, "sources": {}}"#,
    ])
    func badLayersAreRefusedWithTheField(json: String) {
        let error = #expect(throws: ModelError.self) { try Self.model(json) }
        #expect(error.map { "\($0)".contains("layers") } == true, "\(String(describing: error))")
    }

    @Test func layersAreOptional() throws {
        #expect(try Self.model(#"{"name": "m", "heads": 4, "kv_heads": 4, "d": 8, "sources": {}}"#).layers == nil)
    }
}
