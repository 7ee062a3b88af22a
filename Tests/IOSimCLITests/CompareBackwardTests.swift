import Foundation
import Testing

/// `iosim compare --pass backward` on the unfiltered Nsight Compute CSV recorded from PyTorch on
/// the H100 (Reports/gpu/ncu_sample_torch_fwd_bwd.csv: N = 1024, d = 64, 2 heads, fp16, the FA2
/// backward's kernels with tiles 128 × 128).
@Suite struct CompareBackward {
    @Test func pytorchsFA2BackwardKernelsReadWhatTheBackwardScheduleCounts() throws {
        let r = CLI.run([
            "compare", "--ncu", Repo.url("Reports/gpu/ncu_sample_torch_fwd_bwd.csv").path, "--N", "1024", "--d", "64",
            "--heads", "2", "--M", "484KiB", "--schedule", "fa2", "--pass", "backward", "--Br", "128", "--Bc", "128",
            "--match", "bwd", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect((obj["problem"] as! [String: Any])["pass"] as? String == "backward")
        let rows = obj["kernels"] as! [[String: Any]]
        let reads = rows.filter { $0["metric"] as? String == "l2_to_sm_read_bytes" }
        #expect(reads.map { $0["kernel"] as! String } == ["preprocess", "main", "convert"])
        for row in reads { #expect(abs((row["ratio"] as! Double) - 1) <= 0.01, "\(row)") }
        // The main kernel's SM→L2 writes (dQ atomics, dK, dV) exceed the count by its register spills only.
        let mainWrites = try #require(rows.first { $0["kernel"] as? String == "main" && $0["metric"] as? String == "sm_to_l2_write_bytes" })
        #expect((mainWrites["ratio"] as! Double) >= 1 && (mainWrites["ratio"] as! Double) < 1.1)
    }
}
