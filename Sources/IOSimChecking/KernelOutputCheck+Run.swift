import AttentionReference
import IOSimCore
import NpyIO

extension KernelOutputCheck {
    /// Reads, recomputes and compares block by block.
    public func run() throws(InputError) -> Report {
        let precision = dtype.precision
        let outFormat = BaselineAttention.outputPrecision(for: precision)
        let lseFormat: Precision = precision == .fp64 ? .fp64 : .fp32
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let origin = Location(batch: 0, head: 0, row: 0, column: 0)
        var o = TensorResult(name: "O", fileDType: files.o.dtype, location: origin, rtol: Equivalence.forwardRtol)
        var lse = files.lse.map {
            TensorResult(name: "LSE", fileDType: $0.dtype, location: Location(batch: 0, head: 0, row: 0), rtol: Equivalence.forwardRtol)
        }
        do {
            for b in 0..<shape.batch {
                for kvh in 0..<shape.kvHeads {
                    let kv = b * shape.kvHeads + kvh
                    let kBlock = precision.round(try files.k.read(kv * nk * d..<(kv + 1) * nk * d))
                    let vBlock = precision.round(try files.v.read(kv * nk * dv..<(kv + 1) * nk * dv))
                    for h in kvh * shape.groupSize..<(kvh + 1) * shape.groupSize {
                        let bh = b * shape.heads + h
                        for r0 in stride(from: 0, to: nq, by: blockRows) {
                            let c = min(blockRows, nq - r0)
                            let row0 = bh * nq + r0
                            let qBlock = precision.round(try files.q.read(row0 * d..<(row0 + c) * d))
                            let oBlock = outFormat.round(try files.o.read(row0 * dv..<(row0 + c) * dv))
                            let sub = AttentionShape(batch: 1, heads: 1, kvHeads: 1, nq: c, nk: nk, d: d, dv: dv)
                            let m = Self.rows(of: Self.heads(of: mask, from: bh, count: 1), r0: r0, c: c, nq: nq, nk: nk)
                            let mods = modification.isNone ? .none : modification.head(h, rowsFrom: r0, mask: mask, nq: nq, nk: nk)
                            let ref =
                                precision == .fp64
                                ? try ExtendedAttention.forward(
                                    q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale, modification: mods)
                                : try ReferenceAttention.forward(
                                    q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale, modification: mods)
                            let base = try BaselineAttention.forward(
                                q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale, precision: precision,
                                modification: mods)
                            let co = Equivalence.compare(candidate: oBlock, reference: ref.o, baseline: base.o, format: outFormat)
                            o.fold(co) { Location(batch: b, head: h, row: r0 + $0 / dv, column: $0 % dv) }
                            if let file = files.lse {
                                let lBlock = lseFormat.round(try file.read(row0..<row0 + c))
                                let cl = Equivalence.compare(
                                    candidate: lBlock, reference: ref.lse, baseline: base.lse, format: lseFormat,
                                    emptyRowsAsPositiveInfinity: true)
                                lse?.fold(cl) { Location(batch: b, head: h, row: r0 + $0) }
                            }
                        }
                    }
                }
            }
        } catch {
            throw InputError(reading: error)
        }
        return Report(
            dtype: dtype, shape: shape, mask: mask, modification: modification, scale: scale ?? 1 / Double(d).squareRoot(), blockRows: blockRows,
            memoryBytes: memoryBound, tensors: [o] + (lse.map { [$0] } ?? []) + (try gradients()))
    }

    /// dQ, dK and dV (those given) against the reference gradients, one KV group at a time: its
    /// query heads' Q, dO, dQ and its K, V, dK, dV whole, since dK and dV sum over every row
    /// (memory about 8·group·N·(2d + 2dv) + 8·Nk·(2d + 2dv) bytes plus the reference's blocks).
    func gradients() throws(InputError) -> [TensorResult] {
        guard let dOFile = files.dO else { return [] }
        let precision = dtype.precision
        let outFormat = BaselineAttention.outputPrecision(for: precision)
        let (nq, nk, d, dv, g) = (shape.nq, shape.nk, shape.d, shape.dv, shape.groupSize)
        let origin = Location(batch: 0, head: 0, row: 0, column: 0)
        let named = [("dQ", files.dq), ("dK", files.dk), ("dV", files.dv)]
        var results = named.map { name, file in
            file.map { TensorResult(name: name, fileDType: $0.dtype, location: origin, rtol: Equivalence.backwardRtol) }
        }
        do {
            for b in 0..<shape.batch {
                for kvh in 0..<shape.kvHeads {
                    let kv = b * shape.kvHeads + kvh
                    let h0 = b * shape.heads + kvh * g
                    let qRange = h0 * nq * d..<(h0 + g) * nq * d
                    let kRange = kv * nk * d..<(kv + 1) * nk * d, vRange = kv * nk * dv..<(kv + 1) * nk * dv
                    let sub = AttentionShape(batch: 1, heads: g, kvHeads: 1, nq: nq, nk: nk, d: d, dv: dv)
                    func candidate(_ file: NpyFile?, _ range: Range<Int>) throws -> [Double] {
                        guard let file else { return [Double](repeating: 0, count: range.count) }
                        return outFormat.round(try file.read(range))
                    }
                    let report = try Equivalence.checkBackward(
                        candidate: AttentionGradients(
                            dq: try candidate(files.dq, qRange), dk: try candidate(files.dk, kRange), dv: try candidate(files.dv, vRange)),
                        q: try files.q.read(qRange), k: try files.k.read(kRange), v: try files.v.read(vRange),
                        dO: try dOFile.read(h0 * nq * dv..<(h0 + g) * nq * dv), shape: sub, mask: Self.heads(of: mask, from: h0, count: g),
                        scale: scale, precision: precision, modification: modification.heads(kvh * g..<(kvh + 1) * g))
                    results[0]?.fold(report.dq) { Location(batch: b, head: kvh * g + $0 / (nq * d), row: $0 / d % nq, column: $0 % d) }
                    results[1]?.fold(report.dk) { Location(batch: b, head: kvh, row: $0 / d, column: $0 % d) }
                    results[2]?.fold(report.dv) { Location(batch: b, head: kvh, row: $0 / dv, column: $0 % dv) }
                }
            }
        } catch {
            throw InputError(reading: error)
        }
        return results.compactMap { $0 }
    }
}
