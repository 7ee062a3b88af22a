/// A block mask (FlexAttention's `BlockMask`; the FA1 paper's block-sparse FlashAttention): the
/// Nq × Nk scores cut into Bq × Bk blocks, each empty (0), partial (1) or full (2), per plane —
/// one plane for every (batch, head), one per query head, or one per (batch, head). An element is
/// visible iff its block is full, or partial and the `inner` mask (the structured flags) sees it;
/// an empty block hides everything, sinks included (docs/cli.md §2).
public struct BlockMask: Sendable {
    /// Rows and keys per block.
    public let blockQ: Int, blockK: Int
    /// Blocks down (⌈Nq/Bq⌉) and across (⌈Nk/Bk⌉).
    public let rows: Int, cols: Int
    /// The array's batch and heads extents (each 1, or the problem's).
    public let batch: Int, heads: Int
    /// The problem's query heads (to find a (batch, head)'s plane).
    public let queryHeads: Int
    /// batch·heads·rows·cols values in 0…2.
    public let values: [UInt8]
    /// What a partial block shows: none, causal, a window or a structured mask.
    public let inner: AttentionMask
    /// Per (plane, block row): the non-empty blocks' columns (CSR over `values`).
    let rowStart: [Int32], rowCols: [Int32]
    /// Per (plane, block column): the non-empty blocks' rows (CSC over `values`).
    let colStart: [Int32], colRows: [Int32]
    private let digest: Int

    public init(
        blockQ: Int, blockK: Int, rows: Int, cols: Int, batch: Int, heads: Int, queryHeads: Int, values: [UInt8], inner: AttentionMask
    ) {
        (self.blockQ, self.blockK, self.rows, self.cols) = (blockQ, blockK, rows, cols)
        (self.batch, self.heads, self.queryHeads, self.values, self.inner) = (batch, heads, queryHeads, values, inner)
        var start: [Int32] = [0], list: [Int32] = []
        var h = Hasher()
        for (i, v) in values.enumerated() {
            if v != 0 { list.append(Int32(i % max(cols, 1))) }
            if cols > 0, i % cols == cols - 1 { start.append(Int32(list.count)) }
            h.combine(v)
        }
        (rowStart, rowCols, digest) = (start, list, h.finalize())
        var cStart: [Int32] = [0], cList: [Int32] = []
        for plane in 0..<batch * heads {
            for c in 0..<cols {
                for r in 0..<rows where values[(plane * rows + r) * cols + c] != 0 { cList.append(Int32(r)) }
                cStart.append(Int32(cList.count))
            }
        }
        (colStart, colRows) = (cStart, cList)
    }

    /// Planes in the array.
    public var planes: Int { batch * heads }

    /// The plane of batch·heads index `bh` (b·queryHeads + h).
    public func plane(bh: Int) -> Int {
        let (b, h) = (bh / max(queryHeads, 1), bh % max(queryHeads, 1))
        return (batch == 1 ? 0 : b) * heads + (heads == 1 ? 0 : h)
    }

    @inline(__always) public func value(plane: Int, row: Int, col: Int) -> UInt8 { values[(plane * rows + row) * cols + col] }

    /// Columns of the non-empty blocks of block row `row` of `plane`, in order.
    @inline(__always) public func nonEmpty(plane: Int, row: Int) -> ArraySlice<Int32> {
        let i = plane * rows + row
        return rowCols[Int(rowStart[i])..<Int(rowStart[i + 1])]
    }

    /// Rows of the non-empty blocks of block column `col` of `plane`, in order.
    @inline(__always) public func nonEmpty(plane: Int, col: Int) -> ArraySlice<Int32> {
        let i = plane * cols + col
        return colRows[Int(colStart[i])..<Int(colStart[i + 1])]
    }

    /// Whether `inner` sees key `col` from row `row` (element masks by their one plane).
    @inline(__always) public func innerAllows(row: Int, col: Int, nq: Int, nk: Int) -> Bool {
        if case let .boolean(keep) = inner { return keep[row * nk + col] }
        return inner.keyRuns(row: row, nq: nq, nk: nk)?.contains(col) ?? true
    }

    /// Whether key `col` of row `row` of `plane` is visible: its block full, or partial and the
    /// inner mask shows it (`innerRuns`: the inner mask's keys of that row, nil for an element
    /// inner mask, which is asked key by key).
    @inline(__always)
    public func allows(plane: Int, row: Int, col: Int, nq: Int, nk: Int, innerRuns: KeyRuns?) -> Bool {
        switch value(plane: plane, row: row / blockQ, col: col / blockK) {
        case 2: true
        case 1: innerRuns?.contains(col) ?? innerAllows(row: row, col: col, nq: nq, nk: nk)
        default: false
        }
    }

    /// Sets `-∞` in `scores[j]` for every key j of row `row` of `plane` that the mask hides.
    @inline(__always)
    public func hide<T: FloatingPoint>(_ scores: UnsafeMutablePointer<T>, plane: Int, row: Int, nq: Int, nk: Int) {
        let runs = inner.keyRuns(row: row, nq: nq, nk: nk)
        for b in 0..<cols {
            let keys = b * blockK..<min((b + 1) * blockK, nk)
            switch value(plane: plane, row: row / blockQ, col: b) {
            case 2: continue
            case 1:
                if let runs {
                    for j in keys where !runs.contains(j) { scores[j] = -.infinity }
                } else {
                    for j in keys where !innerAllows(row: row, col: j, nq: nq, nk: nk) { scores[j] = -.infinity }
                }
            default: for j in keys { scores[j] = -.infinity }
            }
        }
    }

    /// Throws when the array's extents do not fit `shape`.
    func validate(_ shape: AttentionShape) throws(AttentionError) {
        let (r, c) = ((shape.nq + blockQ - 1) / blockQ, (shape.nk + blockK - 1) / blockK)
        guard rows == r, cols == c else {
            throw .invalidMask(
                "the block mask has \(rows) × \(cols) blocks; Nq = \(shape.nq), Nk = \(shape.nk) at \(blockQ) × \(blockK) need \(r) × \(c)")
        }
        guard batch == 1 || batch == shape.batch else {
            throw .invalidMask("the block mask's batch is \(batch); the problem's is \(shape.batch) (give 1 or it)")
        }
        guard heads == 1 || heads == shape.heads else {
            throw .invalidMask("the block mask has \(heads) heads; the problem has \(shape.heads) query heads (give 1 or that many)")
        }
        if case .blockSparse = inner { throw .invalidMask("a block mask inside a block mask") }
        try inner.validate(shape)
    }
}

extension BlockMask: Hashable {
    public static func == (a: BlockMask, b: BlockMask) -> Bool {
        [a.blockQ, a.blockK, a.rows, a.cols, a.batch, a.heads, a.queryHeads, a.digest]
            == [b.blockQ, b.blockK, b.rows, b.cols, b.batch, b.heads, b.queryHeads, b.digest] && a.inner == b.inner && a.values == b.values
    }

    public func hash(into h: inout Hasher) {
        h.combine(rows)
        h.combine(cols)
        h.combine(digest)
    }
}

extension BlockMask {
    /// Plane `plane` alone, as a mask shared by every (batch, head).
    public func single(_ plane: Int) -> BlockMask {
        let size = rows * cols
        return BlockMask(
            blockQ: blockQ, blockK: blockK, rows: rows, cols: cols, batch: 1, heads: 1, queryHeads: 1,
            values: Array(values[plane * size..<(plane + 1) * size]), inner: inner)
    }
}
