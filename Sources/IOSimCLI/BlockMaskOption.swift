import ArgumentParser
import IOSim
import NpyIO

/// `--block-mask FILE.npy` (docs/cli.md §2): a bool or integer array, 3-D [1 or heads, ⌈Nq/Bq⌉,
/// ⌈Nk/Bk⌉] or 4-D [1 or batch, 1 or heads, …], values 0 (empty), 1 (partial), 2 (full); bool
/// true is full. Every refusal is one line naming the flag.
enum BlockMaskFile {
    /// `--mask-block`'s text as (Bq, Bk); nil gives FlexAttention's 128 × 128.
    static func blocks(_ text: String?) throws(ValidationError) -> (Int, Int) {
        guard let text else { return (128, 128) }
        let sides = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(sides.count), sides.allSatisfy({ $0 != nil && $0! > 0 && $0! <= Limits.maxSequence }) else {
            throw ValidationError("--mask-block takes B or BqxBk, positive integers up to \(Limits.maxSequence), got '\(text)'")
        }
        return (sides[0]!, sides.last!!)
    }

    /// The mask of `path` for a problem of `batch` × `heads` query heads, Nq × Nk, in Bq × Bk
    /// blocks, with `inner` deciding inside partial blocks.
    static func load(
        _ path: String, blocks: (Int, Int), batch: Int, heads: Int, nq: Int, nk: Int, inner: AttentionMask
    ) throws(ValidationError) -> BlockMask {
        let array: NpyIntegers
        do { array = try NpyIntegers.decode(try AtomicFiles.read(path)) } catch {
            if case let .unsupportedDType(descr) = error {
                throw ValidationError("--block-mask \(path) holds '\(descr)'; a block mask is bool or integer (0 empty, 1 partial, 2 full)")
            }
            throw ValidationError("--block-mask \(path): \(error.description)")
        }
        let (bq, bk) = blocks
        let (rows, cols) = ((nq + bq - 1) / bq, (nk + bk - 1) / bk)
        let s = array.shape
        let lead: (batch: Int, heads: Int)
        switch s.count {
        case 3: lead = (1, s[0])
        case 4: lead = (s[0], s[1])
        default: throw ValidationError("--block-mask \(path) has shape \(s); give [heads, \(rows), \(cols)] or [batch, heads, \(rows), \(cols)]")
        }
        guard s[s.count - 2] == rows, s[s.count - 1] == cols else {
            throw ValidationError(
                "--block-mask \(path) has \(s[s.count - 2]) × \(s[s.count - 1]) blocks; Nq = \(nq), Nk = \(nk) in \(bq) × \(bk) blocks (--mask-block) need \(rows) × \(cols)"
            )
        }
        guard lead.batch == 1 || lead.batch == batch else {
            throw ValidationError("--block-mask \(path) is for a batch of \(lead.batch); the problem's is \(batch) (give 1 or \(batch))")
        }
        guard lead.heads == 1 || lead.heads == heads else {
            throw ValidationError("--block-mask \(path) has \(lead.heads) heads; the problem has \(heads) query heads (give 1 or \(heads))")
        }
        if let bad = array.values.firstIndex(where: { !(0...2).contains($0) }) {
            throw ValidationError("--block-mask \(path): element \(bad) is \(array.values[bad]); values are 0 (empty), 1 (partial) or 2 (full)")
        }
        // bool: true is a full block (FlexAttention's full blocks skip the mask).
        let values = array.values.map { UInt8(array.isBool ? $0 * 2 : $0) }
        return BlockMask(
            blockQ: bq, blockK: bk, rows: rows, cols: cols, batch: lead.batch, heads: lead.heads, queryHeads: heads, values: values,
            inner: inner)
    }
}
