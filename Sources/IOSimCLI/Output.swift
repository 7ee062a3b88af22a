import AttentionReference
import Foundation
import IOSim

/// An ordered JSON value, printed with a fixed field order (docs/output.md).
indirect enum JSON {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null

    /// A measured or derived number that may be non-finite: finite as a JSON number, NaN and the
    /// infinities as the strings "NaN", "Infinity" and "-Infinity" (JSON has no such numbers, and
    /// `null` would hide which it was; docs/output.md).
    static func number(_ x: Double) -> JSON {
        if x.isFinite { return .double(x) }
        return .string(x.isNaN ? "NaN" : x > 0 ? "Infinity" : "-Infinity")
    }

    var text: String {
        switch self {
        case let .object(fields): "{" + fields.map { "\"\($0.0)\": \($0.1.text)" }.joined(separator: ", ") + "}"
        case let .array(items): "[" + items.map(\.text).joined(separator: ", ") + "]"
        case let .string(s): Self.quoted(s)
        case let .int(i): "\(i)"
        case let .double(x): x.isFinite ? "\(x)" : "null"
        case let .bool(b): "\(b)"
        case .null: "null"
        }
    }

    /// A JSON string literal: quotes, backslashes and every control character escaped (a kernel
    /// name or path from a user's file may hold any of them).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}

enum Render {
    /// Whether the problem is causal as output reports it: a causal mask, or a window that sees no
    /// key to the right (a two-sided or left-only window is not).
    static func causal(_ p: AttentionProblem) -> Bool { causal(p.mask) }

    static func causal(_ mask: AttentionMask) -> Bool {
        if case let .structured(s) = mask { return causal(s.base) }
        if case let .blockSparse(b) = mask { return causal(b.inner) }
        if case let .slidingWindow(_, right, _) = mask { return right == 0 }
        return mask != .none
    }

    /// The window, causal or no mask under any sinks, prefix or documents.
    static func base(_ mask: AttentionMask) -> AttentionMask {
        if case let .structured(s) = mask { return s.base }
        if case let .blockSparse(b) = mask { return base(b.inner) }
        return mask
    }

    /// Sinks, prefix and documents (docs/output.md): each present only when given; `packing`
    /// with documents.
    static func structureFields(_ mask: AttentionMask, packing: Packing?) -> [(String, JSON)] {
        if case let .blockSparse(b) = mask { return structureFields(b.inner, packing: packing) }
        guard case let .structured(s) = mask else { return [] }
        var f: [(String, JSON)] = []
        if s.sinkTokens > 0 { f.append(("sink_tokens", .int(s.sinkTokens))) }
        if s.prefix > 0 { f.append(("prefix", .int(s.prefix))) }
        if !s.documents.isEmpty {
            f.append(("documents", .array(s.documents.map { .int($0) })))
            if let packing { f.append(("packing", .string(packing.rawValue))) }
        }
        return f
    }

    /// A window's fields (docs/output.md): `window` = L for a one-sided window, both sides always,
    /// null for a side no flag bounds; nothing for another mask. Shared by every report's problem.
    static func windowFields(_ mask: AttentionMask) -> [(String, JSON)] {
        guard case let .slidingWindow(left, right, _) = base(mask) else { return [] }
        func side(_ s: Int) -> JSON { s >= MaskFlags.unbounded ? .null : .int(s) }
        return (right == 0 ? [("window", .int(left + 1))] : []) + [("window_left", side(left)), ("window_right", side(right))]
    }

    /// The problem; `pass` appears when it is not the forward (so that forward output is what it
    /// always was).
    static func problem(_ p: AttentionProblem, capacity: Int, pass: Pass = .forward) -> JSON {
        .object(
            [
                ("N", .int(p.n)), ("Nk", .int(p.nk)), ("d", .int(p.d)), ("batch", .int(p.batch)),
                ("heads", .int(p.heads)), ("kv_heads", .int(p.kvHeads)), ("dtype", .string(p.dtype.rawValue)),
                ("causal", .bool(causal(p))),
            ] + maskFields(p) + [
                ("M_bytes", .int(capacity)),
                ("M_elements", .double(Double(capacity) / Double(p.dtype.size))),
            ] + (pass == .forward ? [] : [("pass", .string(pass.rawValue))]))
    }

    /// What the problem adds to `causal` when it is not a default: `alignment` (top-left; the
    /// default is bottom-right), `window` (L of `--window`) and `pack_gqa` (true). Absent otherwise,
    /// so that the output of every problem without them is what it always was.
    static func maskFields(_ p: AttentionProblem) -> [(String, JSON)] {
        var f: [(String, JSON)] = []
        switch base(p.mask) {
        case .causal(.topLeft): f.append(("alignment", .string(CausalAlignment.topLeft.argument)))
        case let .slidingWindow(_, _, alignment):
            if alignment == .topLeft { f.append(("alignment", .string(alignment.argument))) }
            f += windowFields(p.mask)
        default: break
        }
        f += structureFields(p.mask, packing: p.packing)
        if let file = p.blockMaskFile { f.append(("block_mask", .string(file))) }
        if p.maskBlockQ != 128 || p.maskBlockK != 128 || p.blockMaskFile != nil {
            f.append(("mask_block", .array([.int(p.maskBlockQ), .int(p.maskBlockK)])))
        }
        if p.packGQA { f.append(("pack_gqa", .bool(true))) }
        if p.kvLayout == .paged { f += [("kv_layout", .string(p.kvLayout.rawValue)), ("block_size", .int(p.blockSize))] }
        if p.sharedPrefix > 0 || p.chunk != 64 { f += [("shared_prefix", .int(p.sharedPrefix)), ("chunk", .int(p.chunk))] }
        if let groups = p.lengthGroups {
            // `batch` is the number of sequences and `Nk` the longest; these add the rest.
            let tokens = groups.reduce(0) { $0 + $1.length * $1.count }
            f += [("lengths_tokens", .int(tokens)), ("lengths_distinct", .int(groups.count))]
        }
        return f
    }

    /// With `--lengths`, a result's mean HBM traffic per sequence (`per_sequence`: reads, writes,
    /// read and write bytes, each total over the number of sequences, as Doubles); nothing otherwise.
    static func perSequence(_ r: ScheduleResult, _ p: AttentionProblem) -> [(String, JSON)] {
        guard p.lengthGroups != nil, let h = r.counts?.hbm, p.batch > 0 else { return [] }
        let n = Double(p.batch)
        return [
            (
                "per_sequence",
                .object([
                    ("reads", .double(Double(h.reads) / n)), ("writes", .double(Double(h.writes) / n)),
                    ("read_bytes", .double(Double(h.readBytes) / n)), ("write_bytes", .double(Double(h.writeBytes) / n)),
                ])
            )
        ]
    }

    static func transfer(_ t: Transfer) -> JSON {
        .object([
            ("reads", .int(t.reads)), ("writes", .int(t.writes)),
            ("read_bytes", .int(t.readBytes)), ("write_bytes", .int(t.writeBytes)),
        ])
    }

    /// HBM traffic as JSON: the totals of `byTensor` and, under `by_tensor`, each tensor that moved
    /// something (in `Tensor` order). The result's `hbm` and each kernel's `hbm` have this form.
    static func hbm(_ byTensor: [Transfer]) -> JSON {
        let total = byTensor.reduce(Transfer(), +)
        let moved = Tensor.allCases.filter { byTensor[$0.rawValue].accesses > 0 }
        return .object([
            ("reads", .int(total.reads)), ("writes", .int(total.writes)),
            ("read_bytes", .int(total.readBytes)), ("write_bytes", .int(total.writeBytes)),
            ("by_tensor", .object(moved.map { ("\($0)", transfer(byTensor[$0.rawValue])) })),
        ])
    }

    /// The kernels of a result in launch order: name, grid size (CTAs over batch·heads) and the
    /// kernel's HBM traffic; they sum to the result's `hbm`.
    static func kernels(_ c: TrafficCounts) -> JSON {
        .array(c.kernels.map { k in .object([("name", .string(k.name)), ("ctas", .int(k.ctas)), ("hbm", hbm(k.byTensor))]) })
    }

    static func result(_ r: ScheduleResult, extra: [(String, JSON)] = []) -> JSON {
        var f: [(String, JSON)] = [("schedule", .string(r.kind.rawValue)), ("feasible", .bool(r.feasible))]
        guard let c = r.counts, let t = r.tiles else {
            return .object(f + [("reason", .string(r.reason ?? "infeasible"))])
        }
        f += [
            ("Br", .int(t.br)), ("Bc", .int(t.bc)), ("footprint_bytes", .int(r.footprint ?? 0)),
        ]
        // A training step's backward runs its own tiles (Br, Bc and footprint above are the forward's).
        if let bt = r.backwardTiles {
            f.append(("backward", .object([("Br", .int(bt.br)), ("Bc", .int(bt.bc)), ("footprint_bytes", .int(r.backwardFootprint ?? 0))])))
        }
        f += [
            ("hbm", hbm(c.byTensor)), ("kernels", kernels(c)), ("sram", transfer(c.sram)),
            (
                "bound",
                .object([
                    ("elements", .double(r.bound.elements)), ("regime", .string(r.bound.regime.rawValue)),
                    ("visible_pairs", .int(r.bound.visiblePairs)),
                ])
            ),
            ("ratio", .double(r.ratio ?? .nan)),
        ]
        if let t = r.timeEstimate { f.append(("time_estimate_s", .double(t.seconds))) }
        if let why = r.timeEstimateError { f.append(("time_estimate_error", .string(why))) }
        return .object(f + extra)
    }

    /// The results' CSV header for these options (``resultColumns(kernels:checked:)``).
    static func csvHeader(kernels: Bool, checked: Bool) -> String { resultColumns(kernels: kernels, checked: checked).csvHeader() }

    /// The header of the plain CSV (no kernel or check columns).
    static var csvHeader: String { csvHeader(kernels: false, checked: false) }

    /// A result's CSV rows: its own row and, with `kernels`, one row per kernel after it. The
    /// schedule's row has empty `kernel` and `ctas` cells. A kernel row repeats the schedule, the
    /// problem, M and the tiles, gives the kernel's name, CTAs and HBM counts (`hbm_*`), and leaves
    /// the cells that belong to the whole schedule empty: footprint, SRAM-side counts, bound,
    /// regime, ratio, reason, time estimate and the check. A schedule's kernel rows sum to its row.
    /// With `checked` (data mode with the reference check), every row ends with the check columns,
    /// `check` filling the schedule's row.
    static func csvRows(
        _ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, kernels: Bool = false,
        checked: Bool = false, check: Verification.Report? = nil
    ) -> [String] {
        let columns = resultColumns(kernels: kernels, checked: checked)
        var rows = [columns.csvRow(ResultRow(result: r, problem: p, capacity: capacity, check: check))]
        guard kernels, let c = r.counts else { return rows }
        for k in c.kernels { rows.append(columns.csvRow(ResultRow(result: r, problem: p, capacity: capacity, kernel: k))) }
        return rows
    }

    /// A result's plain CSV row (no kernel or check columns).
    static func csvRow(_ r: ScheduleResult, _ p: AttentionProblem, capacity: Int) -> String {
        resultColumns(kernels: false, checked: false).csvRow(ResultRow(result: r, problem: p, capacity: capacity))
    }

    /// A CSV cell: as is, or quoted (quotes inside turned to ') when it holds a comma or a quote.
    static func csvText(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingAll("\"", "'") + "\"" : s
    }

    /// A kernel's grid size: exact below a million, else like the counts.
    static func ctas(_ n: Int) -> String { (n < 1_000_000 ? "\(n)" : short(Double(n))) + (n == 1 ? " CTA" : " CTAs") }

    /// A number in scientific notation with three significant digits (1.23e-05).
    static func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.2e", x) : "\(x)" }

    /// A duration in µs or ms.
    static func duration(_ s: Double) -> String {
        s < 1e-3 ? fixed(s * 1e6, 1) + " µs" : s < 1 ? fixed(s * 1e3, 3) + " ms" : fixed(s, 3) + " s"
    }

    /// Human-readable counts: 12345678 → "12.35M".
    static func short(_ x: Double) -> String {
        let a = abs(x)
        for (limit, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] where a >= limit {
            return fixed(x / limit, 2) + suffix
        }
        return x == x.rounded() ? "\(Int(x))" : fixed(x, 2)
    }

    static func fixed(_ x: Double, _ digits: Int) -> String {
        let p = Double([1, 10, 100, 1000, 10000][digits])
        let r = (x * p).rounded() / p
        var s = "\(r)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }

    /// The table; `checks` (data mode with the reference check, one per result) adds a `check`
    /// column and a line per checked schedule with its errors; `kernels` adds, under each
    /// schedule's row, an indented line per kernel (name, CTAs, and its HBM counts in the count
    /// columns).
    static func table(
        _ results: [ScheduleResult], _ p: AttentionProblem, capacity: Int, mText: String,
        hardware: HardwareModel? = nil, checks: [Verification.Report?]? = nil, kernels: Bool = false
    ) -> String {
        // The table's problem line names a one-sided window by its L alone.
        let fields = maskFields(p)
        let oneSided = fields.contains { $0.0 == "window" }
        let extra = fields.filter { !oneSided || !$0.0.hasPrefix("window_") }.map { key, value in
            " \(key)=" + { if case let .string(s) = value { s } else { value.text } }()
        }.joined()
        // The bound (and its regime) is the results'; every result of one problem and M has the same.
        let pass = results.first?.pass ?? .forward
        let bound = results.first?.bound ?? Bound(p, capacityBytes: capacity, pass: pass)
        let large = bound.regime == .large
        var lines = [
            "problem: N=\(p.n) Nk=\(p.nk) d=\(p.d) batch=\(p.batch) heads=\(p.heads) kv_heads=\(p.kvHeads) dtype=\(p.dtype.rawValue) causal=\(causal(p))"
                + extra + (pass == .forward ? "" : " pass=\(pass)"),
            "SRAM:    M = \(mText) = \(capacity) bytes = \(short(Double(capacity) / Double(p.dtype.size))) \(p.dtype.rawValue) elements"
                + " (\(large ? "M ≥ d²" : "M < d²"), d² = \(p.d * p.d))",
            "",
        ]
        let columns = resultColumns(kernels: kernels, checked: checks != nil, time: hardware != nil)
        let header = columns.tableHeader()
        var rows = [header]
        for (i, r) in results.enumerated() {
            guard let c = r.counts, r.tiles != nil else {
                rows.append([r.kind.rawValue, "infeasible: " + (r.reason ?? "")])
                continue
            }
            rows.append(columns.tableRow(ResultRow(result: r, problem: p, capacity: capacity, check: checks?[i] ?? nil)))
            guard kernels else { continue }
            for k in c.kernels { rows.append(columns.tableRow(ResultRow(result: r, problem: p, capacity: capacity, kernel: k))) }
        }
        lines += TextTable.lines(rows, right: Set(2..<header.count))
        lines.append("")
        lines.append("counts are elements (K/M/G = 10³ⁿ) summed over batch·heads; B = bytes; ratio = total / bound")
        let regime = " elements, M in elements (regime " + (large ? "M ≥ d²" : "M < d²") + ")"
        var forwardBound = "batch·max((2·Nq·heads + 2·Nk·kv_heads)·d, heads·Nq·Nk·" + (large ? "d²/M" : "d/√M") + ")"
        var backwardBound =
            "batch·max((4·Nq·d + Nq)·heads + 4·Nk·d·kv_heads, heads·" + (large ? "(Nq·Nk·d² + Nq·d³)/M" : "(Nq·Nk·d + Nq·d²)/√M") + ")"
        if p.mask != .none {
            // The mask-aware bound (docs/counting-rules.md §9): what the mask leaves live, per head.
            forwardBound =
                "batch·max((Q_live + Nq)·heads·d + 2·K_live·kv_heads·d, heads·V·" + (large ? "d²/M" : "d/√M") + ")"
            backwardBound =
                "batch·max((Q_live·(3d + 1) + Nq·d)·heads + 2·(K_live + Nk)·kv_heads·d, heads·"
                + (large ? "(V·d² + Q_live·d³)/M" : "(V·d + Q_live·d²)/√M") + ")"
            if case let .blockSparse(m) = p.mask, m.planes > 1 {
                // One plane per head (or batch element): the sums over heads, as the bound takes them.
                let t = VisibleSums.headTotals(p)
                let (pairs, rows, keys) = t.reduce((0, 0, 0)) { ($0.0 + $1.pairs * $1.count, $0.1 + $1.rows * $1.count, $0.2 + $1.keys * $1.count) }
                lines.append(
                    "mask: \(m.planes) block-mask planes; over batch·heads V = \(pairs) visible pairs, Q_live = \(rows) rows, "
                        + "K_live = \(keys) keys (each K/V head's the union over its group); the formula's heads·V is their sum")
            } else {
                let v = VisibleSums(p)
                lines.append("mask: V = \(v.pairs) visible pairs, Q_live = \(v.liveRows) rows, K_live = \(v.liveKeys) keys per head")
            }
        }
        switch pass {
        case .forward: lines.append("bound = " + forwardBound + regime)
        case .backward: lines.append("bound = " + backwardBound + regime + " (backward, docs/counting-rules.md §9)")
        case .training:
            lines.append("bound = " + forwardBound + " + " + backwardBound + regime)
            lines.append("tiles = forward+backward (each pass chooses its own); footprint = the larger")
        }
        // As the bound has it (Bound.sharingPrefix): under --lengths the batch is the sequences.
        let shared = ChunkAttnSchedule.sharedChunks(p) * p.chunk
        if shared > 0, p.batch > 1 {
            lines.append(
                "bound: the \(shared) keys of the shared chunks are read once per KV head for the batch, not per sequence "
                    + "(compulsory and quadratic terms summed over the batch; docs/counting-rules.md §9)")
        }
        if let groups = p.lengthGroups {
            // Variable lengths (docs/counting-rules.md §13): the rows are totals over the sequences; the means here.
            let sequences = groups.reduce(0) { $0 + $1.count }
            let tokens = groups.reduce(0) { $0 + $1.length * $1.count }
            lines.append(
                "lengths: \(sequences) sequences, \(tokens) keys (mean \(fixed(Double(tokens) / Double(sequences), 1)), longest \(p.nk)); "
                    + "rows are totals over the sequences; per sequence (mean):")
            let width = results.map { $0.kind.rawValue.count + 1 }.max() ?? 0
            for r in results {
                guard let c = r.counts else { continue }
                let h = c.hbm, n = Double(sequences)
                lines.append(
                    "  " + (r.kind.rawValue + ":").padding(width) + " reads \(short(Double(h.reads) / n)), writes \(short(Double(h.writes) / n)), "
                        + "\(short(Double(h.bytes) / n)) B")
            }
        }
        if kernels {
            lines.append(
                "indented lines: each kernel in launch order, its CTAs (grid size over batch·heads) and its HBM counts; "
                    + "a schedule's kernels sum to its row")
        }
        if let checks {
            lines.append("check = data mode against the exact reference (docs/numerics.md: max|err| ≤ 2·baseline error + 2 ulps):")
            let width = zip(results, checks).filter { $0.1 != nil }.map { $0.0.kind.rawValue.count + 1 }.max() ?? 0
            for (r, c) in zip(results, checks) {
                guard let c else { continue }
                let e = c.equivalence
                var line =
                    "  " + (r.kind.rawValue + ":").padding(width) + " " + (c.passed ? "pass" : "FAIL") + "  O max|err| " + sci(e.output.maxAbsError)
                    + (e.output.passed ? " ≤ " : " > ") + sci(e.output.allowed)
                if let l = e.lse { line += ", LSE max|err| " + sci(l.maxAbsError) + (l.passed ? " ≤ " : " > ") + sci(l.allowed) }
                // Gradients are checked at rtol 3 (docs/numerics.md, "Gradients").
                for (name, g) in [("dQ", c.gradients?.dq), ("dK", c.gradients?.dk), ("dV", c.gradients?.dv)] {
                    if let g { line += ", \(name) max|err| " + sci(g.maxAbsError) + (g.passed ? " ≤ " : " > ") + sci(g.allowed) }
                }
                lines.append(line)
            }
        }
        if let hardware {
            lines.append(
                "time = estimated kernel time on \(TerminalText.escape(hardware.name)) (HBM + tensor + exp per CTA; fa3 pipelined; see TimeEstimate)")
            // --stages 1 changes the estimate only where the hardware file has the measured round trips.
            // The schedules it applies to: those built with a K/V pipeline, but fa3, whose producer warps load ahead.
            let waiting = results.filter { r in
                r.tiles?.stages == 1 && r.kind.implementation?.pipelineStages != nil && r.kind.implementation?.launch.warpgroupMMA == false
            }
            if !waiting.isEmpty, hardware.tileBursts != nil {
                lines.append(
                    "time, --stages 1: unpipelined \(waiting.map(\.kind.rawValue).joined(separator: ", ")) wait a measured round trip per K and V tile "
                        + "(docs/time-model.md)")
            }
            var said = Set<String>()
            for r in results { if let why = r.timeEstimateError, said.insert(why).inserted { lines.append("time – : " + TerminalText.escape(why)) } }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func padding(_ w: Int) -> String { self + String(repeating: " ", count: max(0, w - count)) }
}
