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
        case let .slidingWindow(left, _, a): maskText = "window \(left + 1) (\(a.argument))"
        default: break
        }
        var lines = [
            "iosim check: \(dtype.rawValue) kernel, \(shape), \(maskText), scale \(scale)",
            "tolerance: max|out − ref| ≤ rtol·(baseline error) + atol",
            "",
        ]
        let header = ["tensor", "max|err|", "where (b, h, row, col)", "allowed", "rtol", "baseline err", "atol", "verdict"]
        var rows = [header]
        for t in tensors {
            rows.append([
                t.name, sci(t.maxAbsError), t.location.text, sci(t.allowed), "\(Int(t.rtol))", sci(t.baselineError), sci(t.atol),
                t.passed ? "pass" : "FAIL",
            ])
        }
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
        switch mask {
        case let .causal(a): problem += [("causal", .bool(true)), ("alignment", .string(a.argument))]
        case let .slidingWindow(left, _, a): problem += [("causal", .bool(true)), ("alignment", .string(a.argument)), ("window", .int(left + 1))]
        default: problem.append(("causal", .bool(false)))
        }
        problem.append(("scale", .double(scale)))
        return .object([
            ("passed", .bool(passed)), ("problem", .object(problem)),
            (
                "tensors",
                .array(
                    tensors.map { t in
                        .object([
                            ("name", .string(t.name)), ("passed", .bool(t.passed)), ("max_abs_error", .number(t.maxAbsError)),
                            ("where", t.location.json), ("allowed", .number(t.allowed)), ("rtol", .double(t.rtol)),
                            ("baseline_error", .number(t.baselineError)), ("atol", .number(t.atol)),
                            ("file_dtype", .string(t.fileDType.rawValue)), ("reason", t.failure.map(JSON.string) ?? .null),
                            ("non_finite_outputs", .int(t.nonFiniteOutputs)), ("non_finite_reference", .int(t.unvouchedReferences)),
                        ])
                    })
            ),
            ("block_rows", .int(blockRows)), ("memory_bound_bytes", .int(memoryBytes)),
        ])
    }

    func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.3e", x) : Comparison.text(x) }
}

extension KernelOutputCheck.Location {
    var json: JSON {
        .object([("batch", .int(batch)), ("head", .int(head)), ("row", .int(row))] + (column.map { [("column", JSON.int($0))] } ?? []))
    }
}
