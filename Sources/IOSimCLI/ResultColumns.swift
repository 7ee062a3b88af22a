import AttentionReference
import IOSim

/// A row of the results' CSV: a schedule's own row, or (with `kernel`) one of its kernels' rows.
struct ResultRow {
    var result: ScheduleResult
    var problem: AttentionProblem
    var capacity: Int
    var kernel: KernelCounts? = nil
    /// Data mode's reference check of the schedule (its own row only).
    var check: Verification.Report? = nil

    /// The counts and tiles of a schedule row that ran (nil: a kernel row, or a schedule that could not run).
    var ran: (counts: TrafficCounts, tiles: KernelConfig)? {
        guard kernel == nil, let c = result.counts, let t = result.tiles else { return nil }
        return (c, t)
    }
    /// The tiles of any row of a schedule that ran (kernel rows repeat them).
    var tiles: KernelConfig? { result.counts == nil ? nil : result.tiles }
    /// The HBM counts of the row: the schedule's, or its kernel's.
    var hbm: Transfer? { kernel?.hbm ?? ran?.counts.hbm }
    /// Whether the row is the schedule's own.
    var isSchedule: Bool { kernel == nil }
}

extension Render {
    /// The results' columns for CSV and the table (docs/output.md): the schedule, the problem
    /// and M, the tiles and footprint, the HBM and SRAM-side counts, the bound and ratio, why it
    /// cannot run (or has no time estimate), the estimate and the pass; with `kernels` the
    /// kernel's name and CTAs (CSV); with `checked` data mode's check of O and LSE (CSV: its
    /// errors, the table: its verdict). The table shows the time with `time` (a hardware model).
    /// A kernel's table row is indented under its schedule's and gives its CTAs under "tiles".
    static func resultColumns(kernels: Bool, checked: Bool, time: Bool = false) -> [Column<ResultRow>] {
        // A table cell of counts: K/M/G for a row with counts, empty otherwise.
        func counts(_ value: @escaping @Sendable (Transfer) -> Int) -> @Sendable (ResultRow) -> String {
            { $0.hbm.map { short(Double(value($0))) } ?? "" }
        }
        let base: [Column<ResultRow>] = [
            Column("schedule", table: "schedule", tableText: { r in r.kernel.map { "  " + $0.name } ?? r.result.kind.rawValue }) {
                .string($0.result.kind.rawValue)
            },
            Column("feasible") { .bool($0.isSchedule ? $0.result.feasible : true) },
            Column("N") { .int($0.problem.n) },
            Column("Nk") { .int($0.problem.nk) },
            Column("d") { .int($0.problem.d) },
            Column("batch") { .int($0.problem.batch) },
            Column("heads") { .int($0.problem.heads) },
            Column("kv_heads") { .int($0.problem.kvHeads) },
            Column("dtype") { .string($0.problem.dtype.rawValue) },
            Column("causal") { .bool(causal($0.problem)) },
            Column("M_bytes") { .int($0.capacity) },
            Column("Br") { $0.tiles.map { .int($0.br) } ?? .empty },
            Column("Bc") { $0.tiles.map { .int($0.bc) } ?? .empty },
            Column(
                "tiles", csv: false, json: false, table: "tiles",
                tableText: { r in
                    if let k = r.kernel { return ctas(k.ctas) }
                    guard let t = r.tiles else { return "" }
                    return "\(t.br)×\(t.bc)" + (r.result.backwardTiles.map { "+\($0.br)×\($0.bc)" } ?? "")
                }
            ) { _ in .empty },
            Column("footprint_bytes", table: "footprint", tableText: { r in r.ran.map { _ in "\(r.result.footprint ?? 0) B" } ?? "" }) { r in
                r.ran.map { _ in .int(r.result.footprint ?? 0) } ?? .empty
            },
            Column("hbm_reads", table: "HBM reads", tableText: counts(\.reads)) { $0.hbm.map { .int($0.reads) } ?? .empty },
            Column("hbm_writes", table: "writes", tableText: counts(\.writes)) { $0.hbm.map { .int($0.writes) } ?? .empty },
            Column("hbm_accesses", csv: false, json: false, table: "total", tableText: counts(\.accesses)) { _ in .empty },
            Column("hbm_read_bytes", table: "read B", tableText: counts(\.readBytes)) { $0.hbm.map { .int($0.readBytes) } ?? .empty },
            Column("hbm_write_bytes", table: "write B", tableText: counts(\.writeBytes)) { $0.hbm.map { .int($0.writeBytes) } ?? .empty },
            Column("hbm_bytes", csv: false, json: false, table: "total B", tableText: counts(\.bytes)) { _ in .empty },
            Column("sram_reads") { $0.ran.map { .int($0.counts.sram.reads) } ?? .empty },
            Column("sram_writes") { $0.ran.map { .int($0.counts.sram.writes) } ?? .empty },
            Column("bound_elements", table: "bound", tableText: { $0.isSchedule ? short($0.result.bound.elements) : "" }) {
                $0.isSchedule ? .double($0.result.bound.elements) : .empty
            },
            Column("regime") { $0.isSchedule ? .string($0.result.bound.regime.rawValue) : .empty },
            Column("ratio", table: "ratio", tableText: { r in r.ran == nil ? "" : r.result.ratio.map { fixed($0, 2) } ?? "" }) { r in
                r.ran == nil ? .empty : r.result.ratio.map { .double($0) } ?? .empty
            },
            Column("reason") { r in
                guard r.isSchedule else { return .empty }
                guard r.ran != nil else { return .text(r.result.reason ?? "") }
                return r.result.timeEstimateError.map { .text("no time estimate: " + TerminalText.escape($0)) } ?? .empty
            },
            Column(
                "time_estimate_s", table: time ? "time" : nil,
                tableText: { r in r.isSchedule ? r.result.timeEstimate.map { duration($0.seconds) } ?? "–" : "" }
            ) { r in r.ran == nil ? .empty : r.result.timeEstimate.map { .double($0.seconds) } ?? .empty },
            Column("pass") { .string($0.result.pass.rawValue) },
        ]
        let kernelColumns: [Column<ResultRow>] = [
            Column("kernel") { $0.kernel.map { .string($0.name) } ?? .empty },
            Column("ctas") { $0.kernel.map { .int($0.ctas) } ?? .empty },
        ]
        // O's error and allowance, then LSE's; empty where the schedule was not checked.
        func check(_ name: String, _ value: @escaping @Sendable (Verification.Report) -> Cell) -> Column<ResultRow> {
            Column(name) { $0.check.map(value) ?? .empty }
        }
        let checkColumns: [Column<ResultRow>] = [
            Column(
                "check", csv: false, json: false, table: "check",
                tableText: { r in
                    r.isSchedule ? r.check.map { $0.passed ? "pass" : "FAIL" } ?? "–" : ""
                }
            ) { _ in .empty },
            check("check_passed") { .bool($0.equivalence.passed) },
            check("max_abs_error") { .string(Comparison.text($0.equivalence.output.maxAbsError)) },
            check("allowed") { .string(Comparison.text($0.equivalence.output.allowed)) },
            check("lse_max_abs_error") { r in r.equivalence.lse.map { .string(Comparison.text($0.maxAbsError)) } ?? .empty },
            check("lse_allowed") { r in r.equivalence.lse.map { .string(Comparison.text($0.allowed)) } ?? .empty },
        ]
        return base + (kernels ? kernelColumns : []) + (checked ? checkColumns : [])
    }
}
