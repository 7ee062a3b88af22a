/// The keys one query row sees under a structured mask: at most two runs of consecutive keys, the
/// head (sink tokens or a prefix, starting at the first key of the row's document) and the window.
/// The two never overlap or touch: a head that reaches the window is merged into it.
public struct KeyRuns: Hashable, Sendable, Sequence {
    /// The sink or prefix keys before the window (empty when there are none, or merged).
    public let head: Range<Int>
    /// The window's keys (empty for a row that sees nothing).
    public let window: Range<Int>

    /// One run.
    public init(_ run: Range<Int>) { self.init(unchecked: run.lowerBound..<run.lowerBound, run) }

    private init(unchecked head: Range<Int>, _ window: Range<Int>) { (self.head, self.window) = (head, window) }

    /// A head and a window, merged when they meet; an empty window leaves the head alone.
    public init(head: Range<Int>, window: Range<Int>) {
        if head.isEmpty {
            self.init(window)
        } else if window.isEmpty {
            self.init(head)
        } else if window.lowerBound <= head.upperBound && head.lowerBound <= window.upperBound {
            self.init(Swift.min(head.lowerBound, window.lowerBound)..<Swift.max(head.upperBound, window.upperBound))
        } else if head.lowerBound < window.lowerBound {
            self.init(unchecked: head, window)
        } else {
            self.init(unchecked: window, head)
        }
    }

    /// No key is visible.
    public var isEmpty: Bool { head.isEmpty && window.isEmpty }
    /// Visible keys.
    public var count: Int { head.count + window.count }
    /// The first visible key (meaningless when empty).
    public var lowerBound: Int { head.isEmpty ? window.lowerBound : head.lowerBound }
    /// One past the last visible key (meaningless when empty).
    public var upperBound: Int { window.isEmpty ? head.upperBound : window.upperBound }
    /// The non-empty runs in key order.
    public var runs: [Range<Int>] { [head, window].filter { !$0.isEmpty } }

    @inline(__always) public func contains(_ key: Int) -> Bool { head.contains(key) || window.contains(key) }

    /// Calls `body` with each non-empty run in key order, without building ``runs`` (hot loops
    /// call this once per row).
    @inline(__always) public func forEachRun(_ body: (Range<Int>) -> Void) {
        if !head.isEmpty { body(head) }
        if !window.isEmpty { body(window) }
    }

    public func makeIterator() -> FlattenSequence<[Range<Int>]>.Iterator { runs.joined().makeIterator() }
}

/// A mask built from the structured flags (docs/cli.md §2): a window or causal mask (`base`)
/// applied inside each document, sink tokens and a prefix that every row of a document sees from
/// the document's first key. Documents split Nq = Nk into consecutive runs of rows and keys; a
/// row sees only keys of its own document, positions counted from the document's start.
public struct StructuredMask: Hashable, Sendable {
    /// The window inside a document: `.none`, `.causal` or `.slidingWindow`.
    public let base: AttentionMask
    /// StreamingLLM's sink tokens: keys below this (from the document's start) are seen by every
    /// row at or past them.
    public let sinkTokens: Int
    /// Prefix-LM: keys below this (from the document's start) are seen by every row.
    public let prefix: Int
    /// Document lengths in order (empty: the whole sequence is one document).
    public let documents: [Int]
    /// `starts[i]` is the first row (and key) of document i; `starts.last` their sum.
    let starts: [Int]

    public init(base: AttentionMask, sinkTokens: Int = 0, prefix: Int = 0, documents: [Int] = []) {
        (self.base, self.sinkTokens, self.prefix, self.documents) = (base, sinkTokens, prefix, documents)
        var s = [0]
        s.reserveCapacity(documents.count + 1)
        for n in documents { s.append(s[s.count - 1] &+ n) }
        starts = s
    }

    /// Throws when the parts do not fit `shape`: a negative count, a base that is not a window,
    /// a prefix under a window that sees to the right, documents that do not cover Nq = Nk.
    func validate(_ shape: AttentionShape) throws(AttentionError) {
        switch base {
        case .none, .causal: break
        case let .slidingWindow(left, right, _):
            if left < 0 || right < 0 { throw .negativeWindow(left: left, right: right) }
        default: throw .invalidMask("a structured mask's window must be none, causal or a sliding window")
        }
        if sinkTokens < 0 { throw .invalidMask("sink tokens must be 0 or more, got \(sinkTokens)") }
        if prefix < 0 { throw .invalidMask("a prefix must be 0 or more keys, got \(prefix)") }
        if prefix > 0 && !base.seesNothingRight {
            throw .invalidMask("a prefix needs a window that sees nothing to the right (causal, or right side 0)")
        }
        guard !documents.isEmpty else { return }
        if let bad = documents.firstIndex(where: { $0 < 1 }) {
            throw .invalidMask("document \(bad + 1) has length \(documents[bad]); every document holds at least one token")
        }
        if documentTotal != shape.nq || documentTotal != shape.nk {
            throw .invalidMask("the documents add up to \(documentTotal) tokens, but Nq = \(shape.nq) and Nk = \(shape.nk)")
        }
    }

    /// Rows and keys of the documents together (0 without documents).
    public var documentTotal: Int { starts[starts.count - 1] }

    /// The document holding row (or key) `index`, as its range of positions; the whole
    /// `0..<length` without documents.
    public func document(of index: Int, length: Int) -> Range<Int> {
        guard !documents.isEmpty else { return 0..<length }
        // The last start at or below index.
        var (lo, hi) = (0, documents.count - 1)
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return starts[lo]..<starts[lo + 1]
    }

    /// The documents that rows `rows` meet, each cut to those rows, in order.
    public func segments(_ rows: Range<Int>, length: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var r = rows.lowerBound
        while r < rows.upperBound {
            let doc = document(of: r, length: length)
            out.append(r..<min(rows.upperBound, doc.upperBound))
            r = doc.upperBound
        }
        return out
    }

    /// The keys row `row` sees.
    public func keyRuns(row: Int, nq: Int, nk: Int) -> KeyRuns {
        guard !documents.isEmpty else { return local(row: row, nq: nq, nk: nk, from: 0) }
        let doc = document(of: row, length: nq)
        return local(row: row - doc.lowerBound, nq: doc.count, nk: doc.count, from: doc.lowerBound)
    }

    /// Keys of a one-document problem of nq rows and nk keys, shifted by `from`.
    private func local(row: Int, nq: Int, nk: Int, from: Int) -> KeyRuns {
        let window = base.windowRange(row: row, nq: nq, nk: nk)
        let h = headEnd(row: row, nq: nq, nk: nk)
        return KeyRuns(head: from..<from + h, window: from + window.lowerBound..<from + window.upperBound)
    }

    /// One past the last head key of a row (0 for none): the prefix for every row, sinks up to
    /// the row's own position. Never decreases down a document's rows.
    package func headEnd(row: Int, nq: Int, nk: Int) -> Int {
        let pos = row + base.diagonalOffset(nq: nq, nk: nk)
        let sinks = sinkTokens > 0 ? min(sinkTokens, max(0, pos + 1)) : 0
        return min(nk, max(prefix, sinks))
    }
}

extension AttentionMask {
    /// Where row r's diagonal sits: at column r + this.
    package func diagonalOffset(nq: Int, nk: Int) -> Int {
        switch self {
        case let .causal(a), let .slidingWindow(_, _, a): Self.offset(a, nq: nq, nk: nk)
        default: 0
        }
    }

    /// The window part of a base mask (none, causal, sliding window) for one row.
    package func windowRange(row: Int, nq: Int, nk: Int) -> Range<Int> {
        switch self {
        case .none:
            return 0..<nk
        case let .causal(alignment):
            return 0..<min(nk, max(0, row + Self.offset(alignment, nq: nq, nk: nk) + 1))
        case let .slidingWindow(left, right, alignment):
            let r = row + Self.offset(alignment, nq: nq, nk: nk)
            let lo = min(nk, max(0, r - left))
            let hi = max(lo, min(nk, r + right + 1))
            return lo..<hi
        case .boolean, .additive, .structured, .blockSparse:
            return 0..<nk
        }
    }

    /// The keys row `row` sees under a structured mask (none, causal, windows, sinks, prefix,
    /// documents); `nil` for element masks. The one place visibility is decided.
    public func keyRuns(row: Int, nq: Int, nk: Int) -> KeyRuns? {
        switch self {
        case .none, .causal, .slidingWindow: KeyRuns(windowRange(row: row, nq: nq, nk: nk))
        case let .structured(s): s.keyRuns(row: row, nq: nq, nk: nk)
        case .boolean, .additive, .blockSparse: nil
        }
    }

    /// Causal, or a window whose right side is 0.
    public var seesNothingRight: Bool {
        switch self {
        case .causal: true
        case let .slidingWindow(_, right, _): right == 0
        default: false
        }
    }

    /// Whether a key past the row's own window may be seen (sinks or a prefix), or documents cut
    /// the sequence: the masks whose rows are not one run.
    public var hasStructure: Bool {
        switch self {
        case .structured, .blockSparse: true
        default: false
        }
    }
}
