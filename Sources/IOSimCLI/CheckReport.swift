import AttentionReference
import Foundation
import IOSim
import NpyIO

/// `iosim check`'s report: the verdict per tensor as a table and as JSON (docs/output.md).
extension KernelOutputCheck.Report {
    var table: String {
        var maskText = "no mask"
        switch mask {
        case let .causal(a): maskText = "causal (\(a.argument))"
        case let .slidingWindow(left, right, a):
            func side(_ s: Int) -> String { s >= MaskFlags.unbounded ? "unbounded" : "\(s)" }
            maskText = right == 0 ? "window \(left + 1) (\(a.argument))" : "window (\(side(left)), \(side(right))) (\(a.argument))"
        default: break
        }
        var scores = ""
        if let c = modification.softcap { scores += ", softcap \(c)" }
        if modification.alibiSlopes != nil { scores += ", ALiBi" }
        if modification.sinkLogits != nil { scores += ", sink logits" }
        var lines = [
            "iosim check: \(dtype.rawValue) kernel, \(shape), \(maskText), scale \(scale)\(scores)",
            "tolerance: max|out − ref| ≤ rtol·(baseline error) + atol",
            "",
        ]
        let rows = Self.columns.tableRows(tensors)
        lines += TextTable.lines(rows)
        lines.append("")
        lines += passed ? ["PASS"] : tensors.compactMap { t in t.failure.map { "FAIL: \(t.name): \($0)" } }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n") + "\n"
    }

    var json: JSON {
        var problem: [(String, JSON)] = [
            ("batch", .int(shape.batch)), ("heads", .int(shape.heads)), ("kv_heads", .int(shape.kvHeads)), ("N", .int(shape.nq)),
            ("Nk", .int(shape.nk)), ("d", .int(shape.d)), ("dv", .int(shape.dv)), ("dtype", .string(dtype.rawValue)),
        ]
        switch Render.base(mask) {
        case let .causal(a): problem += [("causal", .bool(true)), ("alignment", .string(a.argument))]
        case let .slidingWindow(_, _, a):
            problem += [("causal", .bool(Render.causal(mask))), ("alignment", .string(a.argument))] + Render.windowFields(mask)
        default: problem.append(("causal", .bool(false)))
        }
        problem += Render.structureFields(mask, packing: nil)
        problem.append(("scale", .double(scale)))
        if let c = modification.softcap { problem.append(("softcap", .double(c))) }
        if let a = modification.alibiSlopes { problem.append(("alibi_slopes", .array(a.map { .double($0) }))) }
        if let s = modification.sinkLogits { problem.append(("sink_logits", .array(s.map { JSON.number($0) }))) }
        return .object([
            ("passed", .bool(passed)), ("problem", .object(problem)),
            ("tensors", .array(tensors.map { Self.columns.jsonObject($0) })),
            ("block_rows", .int(blockRows)), ("memory_bound_bytes", .int(memoryBytes)),
        ])
    }

    /// Each tensor's verdict, for the table and JSON alike (docs/output.md).
    static let columns: [Column<KernelOutputCheck.TensorResult>] = {
        @Sendable func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.3e", x) : Comparison.text(x) }
        return [
            Column("name", table: "tensor") { .string($0.name) },
            Column("max_abs_error", table: "max|err|", tableText: { sci($0.maxAbsError) }) { .number($0.maxAbsError) },
            Column("where", table: "where (b, h, row, col)") { .structured($0.location.json, text: $0.location.text) },
            Column("allowed", table: "allowed", tableText: { sci($0.allowed) }) { .number($0.allowed) },
            Column("rtol", table: "rtol", tableText: { "\(Int($0.rtol))" }) { .double($0.rtol) },
            Column("baseline_error", table: "baseline err", tableText: { sci($0.baselineError) }) { .number($0.baselineError) },
            Column("atol", table: "atol", tableText: { sci($0.atol) }) { .number($0.atol) },
            Column("passed", table: "verdict", tableText: { $0.passed ? "pass" : "FAIL" }) { .bool($0.passed) },
            Column("file_dtype") { .string($0.fileDType.rawValue) },
            Column("reason") { $0.failure.map(Cell.string) ?? .empty },
            Column("non_finite_outputs") { .int($0.nonFiniteOutputs) },
            Column("non_finite_reference") { .int($0.unvouchedReferences) },
        ]
    }()
}

extension KernelOutputCheck.Location {
    var json: JSON {
        .object([("batch", .int(batch)), ("head", .int(head)), ("row", .int(row))] + (column.map { [("column", JSON.int($0))] } ?? []))
    }
}
