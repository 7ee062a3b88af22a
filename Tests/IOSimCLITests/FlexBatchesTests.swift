import Foundation
import Testing

/// The out-of-sample check of the unpipelined estimate (docs/time-model.md, "The FlexAttention
/// check"): iosim's estimates for FlexAttention's decode at batch 2, 4, 8 and 16 were written down
/// (Reports/gpu/paged_decode_batches_predicted.txt) before the H100 measured them
/// (paged_decode_batches_model.csv).
@Suite struct FlexBatches {
    /// (batch, variant, estimate µs, the iosim command's arguments) of the predictions file.
    func predictions() throws -> [(batch: Int, variant: String, estimate: Double, args: [String])] {
        let text = try String(contentsOf: Repo.gpuReports.appendingPathComponent("paged_decode_batches_predicted.txt"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ",").map(String.init)
            guard f.count == 7, let b = Int(f[0]), let e = Double(f[4]), f[6].hasPrefix("iosim ") else { return nil }
            return (b, f[3], e, f[6].dropFirst(6).split(separator: " ").map(String.init))
        }
    }

    @Test func thePredictionsAreStillWhatIosimEstimates() throws {
        let rows = try predictions()
        #expect(rows.count == 12)
        for row in rows {
            let r = CLI.run(row.args + ["--format", "json"])
            #expect(r.status == 0, "\(r.err)")
            let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let t = try #require((o?["results"] as? [[String: Any]])?.first?["time_estimate_s"] as? Double)
            #expect(abs(t * 1e6 - row.estimate) <= 0.051, "batch \(row.batch) \(row.variant): \(t * 1e6) µs, predicted \(row.estimate)")
        }
    }

    @Test func theEstimateRanksThePagedSlowdownsAsMeasuredAndStaysBelowThem() throws {
        let text = try String(contentsOf: Repo.gpuReports.appendingPathComponent("paged_decode_batches_model.csv"), encoding: .utf8)
        var estimated: [Int: Double] = [:], measured: [Int: Double] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            guard f.count == 9, f[1] == "paged-shuffled", let b = Int(f[0]), let e = Double(f[7]), let k = Double(f[8]),
                let ratio = Double(f[6])
            else { continue }
            (estimated[b], measured[b]) = (e, k)
            // The generated kernel's own instructions are not in the estimate: below the kernel, by
            // at most the 1.41× of its paged mask code plus its plain step's extra (docs).
            #expect(ratio < 1 && ratio > 0.6, "batch \(b): estimate / kernel \(ratio)")
        }
        #expect(estimated.count == 4)
        // 64 working CTAs (batch 4 and 8) against 128 (batch 2 and 16): both orders agree.
        for slow in [4, 8] {
            for mild in [2, 16] {
                #expect(try #require(estimated[slow]) > #require(estimated[mild]))
                #expect(try #require(measured[slow]) > #require(measured[mild]))
            }
        }
    }
}
