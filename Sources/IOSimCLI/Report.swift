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

    /// The files the GPU notebook reads.
    static let gpuFiles = ["traffic.csv", "speed.csv", "time_estimates.csv"]

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
        try ReportSweeps.write(to: stage + "/data", small: small)
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

/// The sweeps behind the report's simulator plots, as CSV files.
enum ReportSweeps {
    static func write(to dir: String, small: Bool) throws {
        let kinds = ScheduleKind.allCases
        let optimal = TileRequest(policy: .optimal)
        // (a, c) HBM accesses vs M at N = 4096, d = 64, fp16, every schedule with its best tiles.
        let ms = small ? [2048, 8192, 32768, 131_072, 524_288]
            : stride(from: 11.0, through: 20.0, by: 0.5).map { Int(pow(2, $0).rounded()) }
        var rows = [Render.csvHeader]
        let p = AttentionProblem(n: 4096, d: 64)
        for m in ms { for k in kinds { rows.append(Render.csvRow(Simulator.simulate(k, p, capacity: m, tiles: optimal), p, capacity: m)) } }
        try save(rows, dir + "/traffic_vs_M.csv")
        // (b) HBM accesses vs N at M = 100 KB.
        rows = [Render.csvHeader]
        for n in small ? [1024, 4096, 16384] : [1024, 2048, 4096, 8192, 16384, 32768, 65536] {
            let q = AttentionProblem(n: n, d: 64)
            for k in kinds { rows.append(Render.csvRow(Simulator.simulate(k, q, capacity: 100_000, tiles: optimal), q, capacity: 100_000)) }
        }
        try save(rows, dir + "/traffic_vs_N.csv")
        // (d) SRAM-side reads of fa1 (split-K) and fa2 (split-Q) against warps, same tiles.
        rows = ["schedule,warps,N,d,Br,Bc,sram_reads,sram_writes,sram_read_bytes,sram_write_bytes"]
        for w in [1, 2, 4, 8, 16] {
            for k in [ScheduleKind.fa1, .fa2] {
                let c = Simulator.simulate(k, p, capacity: 100_000, tiles: TileRequest(br: 64, bc: 64, warps: w)).counts!.sram
                rows.append("\(k.rawValue),\(w),4096,64,64,64,\(c.reads),\(c.writes),\(c.readBytes),\(c.writeBytes)")
            }
        }
        try save(rows, dir + "/sram_vs_warps.csv")
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
