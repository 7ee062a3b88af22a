/// A set of tile indices held as sorted, disjoint, non-adjacent runs: the live column tiles of a
/// row tile, or the live row tiles of a column tile. Under none, causal and window masks it is
/// one run; sinks, a prefix and documents can leave gaps (docs/counting-rules.md §5).
public struct TileRuns: Hashable, Sendable, Sequence {
    /// The runs in order; none is empty.
    public private(set) var runs: [Range<Int>]

    /// The union of `ranges` (in any order, empty ones ignored).
    public init(_ ranges: [Range<Int>]) {
        let sorted = ranges.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        var out: [Range<Int>] = []
        out.reserveCapacity(sorted.count)
        for r in sorted {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound..<Swift.max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        runs = out
    }

    /// One run.
    public init(_ run: Range<Int>) { runs = run.isEmpty ? [] : [run] }

    /// No tile.
    public static let empty = TileRuns(0..<0)

    public var isEmpty: Bool { runs.isEmpty }
    /// Tiles in the set.
    public var count: Int { runs.reduce(0) { $0 + $1.count } }
    /// The first tile (0 when empty).
    public var lowerBound: Int { runs.first?.lowerBound ?? 0 }
    /// One past the last tile (0 when empty).
    public var upperBound: Int { runs.last?.upperBound ?? 0 }

    /// From the first tile to the last, gaps included (a single run's range).
    public var hull: Range<Int> { lowerBound..<upperBound }

    @inline(__always) public func contains(_ tile: Int) -> Bool { runs.contains { $0.contains(tile) } }

    /// The tiles of the set inside `range`.
    public func clamped(to range: Range<Int>) -> TileRuns {
        var r = TileRuns.empty
        r.runs = runs.compactMap { run in
            let c = run.clamped(to: range)
            return c.isEmpty ? nil : c
        }
        return r
    }

    /// The tiles at positions `positions` of the set in order (the k-th tile is position k), e.g.
    /// the tiles a stream-K CTA takes from a row with a gap between its sinks and its window.
    public func positions(_ positions: Range<Int>) -> TileRuns {
        var r = TileRuns.empty, skipped = 0
        for run in runs {
            let lo = Swift.max(positions.lowerBound - skipped, 0), hi = Swift.min(positions.upperBound - skipped, run.count)
            if lo < hi { r.runs.append(run.lowerBound + lo..<run.lowerBound + hi) }
            skipped += run.count
        }
        return r
    }

    /// Σ over the runs of the elements their tiles span, given each tile's element range
    /// (a ragged last tile counts its real size).
    @inline(__always) public func covered(_ elements: (Int) -> Range<Int>) -> Int {
        runs.reduce(0) { $0 + elements($1.upperBound - 1).upperBound - elements($1.lowerBound).lowerBound }
    }

    public func makeIterator() -> FlattenSequence<[Range<Int>]>.Iterator { runs.joined().makeIterator() }
}
