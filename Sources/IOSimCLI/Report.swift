import ArgumentParser
import Foundation
import IOSim

/// `iosim report`: runs the sweeps behind the report's plots, executes the notebooks headless
/// (they draw the PNGs and write the findings from the data) and assembles REPORT.md.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate the report: sweeps → notebooks (headless) → REPORT.md with plots and findings.",
        discussion: """
            Needs python3 with Notebooks/requirements.txt installed (scripts/report.sh installs it).
            Writes OUT/data/*.csv (the sweeps), OUT/figures/*.png with the CSV behind each plot, and
            OUT/REPORT.md. GPU plots read the recorded H100 measurements in Reports/gpu.
            Example: iosim report --out Reports
            """
    )

    @Option(help: "Output folder.") var out: String = "Reports"
    @Flag(help: "A small sweep (for CI): fewer N and M points.") var small = false
    @Option(help: "Folder of the recorded GPU measurements (default: Reports/gpu here, else the checkout's).")
    var gpu: String?

    /// The files the GPU and decode notebooks read.
    static let gpuFiles = ["traffic.csv", "speed.csv", "time_estimates.csv", "decode_speed.csv", "bwd_time_estimates.csv"]

    /// Everything is made in a staging folder beside OUT and moved in only when the notebooks
    /// succeed, so a failed run leaves OUT as it was and no partial files behind.
    func run() throws {
        let gpu = try gpuFolder()
        guard let runner = Resources.locate("Notebooks/run_notebooks.py") else {
            throw RunFailure("cannot find Notebooks/run_notebooks.py beside the iosim executable or its checkout")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDir), !isDir.boolValue {
            throw RunFailure("--out \(out) is a file, not a folder")
        }
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw RunFailure("cannot create the folder \(out): \(Self.reason(error))")
        }
        let stage = out + "/.iosim-report-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: stage) }
        do { try FileManager.default.createDirectory(atPath: stage + "/data", withIntermediateDirectories: true) } catch {
            throw RunFailure("cannot write in \(out): \(Self.reason(error))")
        }
        try ReportFiles.write(to: stage + "/data", small: small)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", runner, "--data", stage + "/data", "--gpu", gpu, "--out", stage]
        do { try p.run() } catch { throw RunFailure("cannot start python3: \(Self.reason(error))") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw RunFailure("the notebooks failed (exit \(p.terminationStatus)); their error is printed above, and \(out) is unchanged")
        }
        try Self.moveIn(["data", "figures", "REPORT.md"], from: stage, to: out)
    }

    /// `--gpu`, or Reports/gpu here, or the checkout's; it must hold the files the notebook reads.
    func gpuFolder() throws -> String {
        let folder = gpu ?? (FileManager.default.fileExists(atPath: "Reports/gpu") ? "Reports/gpu" : Resources.locate("Reports/gpu"))
        guard let folder else { throw RunFailure("no Reports/gpu folder here or beside the iosim executable; name one with --gpu") }
        for f in Self.gpuFiles where !FileManager.default.fileExists(atPath: folder + "/" + f) {
            throw RunFailure("--gpu \(folder) has no \(f) (it needs \(Self.gpuFiles.joined(separator: ", ")))")
        }
        return folder
    }

    /// Replaces each named entry of `dest` with the staged one (the old one is removed only after
    /// the new one is in place).
    static func moveIn(_ names: [String], from stage: String, to dest: String) throws {
        let fm = FileManager.default
        for name in names {
            let (src, dst, old) = (stage + "/" + name, dest + "/" + name, stage + "/old-" + name)
            if fm.fileExists(atPath: dst) {
                guard Foundation.rename(dst, old) == 0 else {
                    throw RunFailure("cannot replace \(dst): \(String(cString: strerror(errno)))")
                }
            }
            guard Foundation.rename(src, dst) == 0 else {
                let why = String(cString: strerror(errno))
                _ = Foundation.rename(old, dst)
                throw RunFailure("cannot move the new \(name) into \(dest): \(why)")
            }
        }
    }

    /// A Foundation error's reason without the NSCocoaErrorDomain dump.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.localizedFailureReason ?? ns.localizedDescription
    }
}

/// The report's sweeps (IOSim's `ReportSweeps`) written as the CSV files the notebooks read.
enum ReportFiles {
    static func write(to dir: String, small: Bool) throws {
        // (a, c) HBM accesses vs M; (b) vs N: the simulate CSV's rows.
        for (name, points) in [
            ("traffic_vs_M.csv", ReportSweeps.trafficVsM(small: small)),
            ("traffic_vs_N.csv", ReportSweeps.trafficVsN(small: small)),
            ("backward_vs_M.csv", ReportSweeps.backwardVsM(small: small)),
            ("backward_vs_N.csv", ReportSweeps.backwardVsN(small: small)),
        ] {
            try save([Render.csvHeader] + points.map { Render.csvRow($0.result, $0.problem, capacity: $0.capacity) }, dir + "/" + name)
        }
        // (d) SRAM-side reads of fa1 (split-K) and fa2 (split-Q) against warps, same tiles.
        var rows = ["schedule,warps,N,d,Br,Bc,sram_reads,sram_writes,sram_read_bytes,sram_write_bytes"]
        for point in ReportSweeps.sramVsWarps() {
            let r = point.result, p = point.problem
            guard let t = r.tiles, let c = r.counts?.sram else {
                throw RunFailure("the warps sweep's \(r.kind.rawValue) cannot run: \(r.reason ?? "infeasible")")
            }
            rows.append("\(r.kind.rawValue),\(t.warps),\(p.n),\(p.d),\(t.br),\(t.bc),\(c.reads),\(c.writes),\(c.readBytes),\(c.writeBytes)")
        }
        try save(rows, dir + "/sram_vs_warps.csv")
        try DecodeReport.write(to: dir, small: small)
        try ServingReport.write(to: dir, small: small)
        try PrefixSharingReport.write(to: dir, small: small)
        try MaskReport.write(to: dir, small: small)
    }

    /// Writes a file whole or not at all (temporary file, then rename).
    static func save(_ lines: [String], _ path: String) throws {
        let tmp = path + ".tmp"
        do { try (lines.joined(separator: "\n") + "\n").write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
            throw RunFailure("cannot write \(path): \(Report.reason(error))")
        }
        guard Foundation.rename(tmp, path) == 0 else { throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// The decode figures' sweeps (README.md, "Decode"): Llama-3 8B's attention shape (`Models/workloads`),
/// one query row per sequence, the query heads of a KV group packed as FlashAttention-2 packs
/// them for decode, fp16, on the `h100-sxm` model with its M. Each schedule gets what the CLI
/// gives it with `--hardware`: fa2 its optimal tiles, split-kv FA2's split heuristic and the
/// kernel's tiles, lean 2·SMs CTAs and the same tiles.
enum DecodeReport {
    static func write(to dir: String, small: Bool) throws {
        let hw: HardwareModel, shape: WorkloadModel
        do { (hw, shape) = (try ModelFile.hardware("h100-sxm"), try ModelFile.workload("llama-3-8b")) } catch {
            throw RunFailure("the decode sweeps need Models/hardware/h100-sxm.json and Models/workloads/llama-3-8b.json: \(error)")
        }
        func problem(batch: Int, nk: Int) -> AttentionProblem {
            AttentionProblem(n: 1, nk: nk, d: shape.d, batch: batch, heads: shape.heads, kvHeads: shape.kvHeads, packGQA: true)
        }
        func splits(_ p: AttentionProblem) -> Int { SplitKVHeuristic.splits(for: p, sms: hw.sms) }
        func run(_ kind: ScheduleKind, _ p: AttentionProblem) throws -> (ScheduleResult, TimeEstimate.Breakdown) {
            // As `iosim --hardware h100-sxm` runs it.
            let request = TileRequest.defaults(for: p, on: hw)
            let r = Simulator.simulate(kind, p, capacity: hw.onChipPerBlock, tiles: request)
            guard r.feasible, let t = try TimeEstimate.estimate(r, p, hw) else {
                throw RunFailure("the decode sweep's \(kind.rawValue) at batch \(p.batch), Nk \(p.nk) cannot run: \(r.reason ?? "no time estimate")")
            }
            return (r, t)
        }
        func fields(_ r: ScheduleResult) -> String {
            let t = r.tiles!, c = r.counts!
            return "\(t.br),\(t.bc),\(c.kernels.first?.ctas ?? 0),\(c.hbm.readBytes),\(c.hbm.writeBytes)"
        }
        let kinds: [ScheduleKind] = [.fa2, .splitKV, .lean]

        // Bytes and time against the cache length, at the batch measured on the H100 (Reports/gpu).
        let nks = small ? [4096, 32768, 131_072] : (10...17).map { 1 << $0 }
        var rows = ["schedule,batch,heads,kv_heads,Nq,Nk,d,Br,Bc,ctas,hbm_read_bytes,hbm_write_bytes,splits,time_estimate_s"]
        for nk in nks {
            let p = problem(batch: 8, nk: nk)
            for kind in kinds {
                let (r, t) = try run(kind, p)
                rows.append(
                    "\(kind.rawValue),8,\(p.heads),\(p.kvHeads),1,\(nk),\(p.d),\(fields(r)),\(kind == .splitKV ? splits(p) : 1),\(t.seconds)")
            }
        }
        try ReportFiles.save(rows, dir + "/decode_vs_Nk.csv")

        // The split count FA2's heuristic takes against the batch (no simulation: the rule alone).
        rows = ["batch,Nk,heads,kv_heads,sms,splits,split_ctas"]
        for nk in [8192, 32768, 131_072] {
            for batch in 1...(small ? 40 : 128) {
                let p = problem(batch: batch, nk: nk), s = splits(p)
                rows.append("\(batch),\(nk),\(p.heads),\(p.kvHeads),\(hw.sms),\(s),\(batch * p.kvHeads * s)")
            }
        }
        try ReportFiles.save(rows, dir + "/decode_splits.csv")

        // Lean against split-kv batch by batch at 32K: split-kv's CTAs come in waves of SMs.
        rows = ["batch,Nk,kv_heads,sms,splits,splitkv_ctas,lean_ctas,splitkv_bytes,lean_bytes,splitkv_time_s,lean_time_s"]
        for batch in 1...(small ? 12 : 64) {
            let p = problem(batch: batch, nk: 32768)
            let (sr, st) = try run(.splitKV, p), (lr, lt) = try run(.lean, p)
            rows.append(
                "\(batch),32768,\(p.kvHeads),\(hw.sms),\(splits(p)),\(sr.counts!.kernels[0].ctas),\(lr.counts!.kernels[0].ctas),"
                    + "\(sr.counts!.hbm.bytes),\(lr.counts!.hbm.bytes),\(st.seconds),\(lt.seconds)")
        }
        try ReportFiles.save(rows, dir + "/decode_lean_vs_splitkv.csv")
    }
}
