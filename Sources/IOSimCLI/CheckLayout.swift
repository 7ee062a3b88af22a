import ArgumentParser
import IOSim
import NpyIO

/// `check --layout` (docs/cli.md §5): the arrays' axis order. `bhsd` is iosim's [batch, heads, N, d]
/// (also [heads, N, d] and [N, d]); `bshd` FlashAttention's [batch, seqlen, heads, d] (or
/// [seqlen, heads, d]); `thd` varlen's packed [total_tokens, heads, d], with `--documents`. The LSE
/// is [batch, heads, N] (or [heads, total]) in every layout, as FlashAttention returns it.
enum CheckLayout: String, CaseIterable, ExpressibleByArgument {
    case bhsd, bshd, thd

    /// Whether `a` has a rank this layout takes (nil), else the shape it wanted.
    func refusal(_ a: NpyArray) -> String? {
        let ranks = self == .thd ? [3] : self == .bshd ? [3, 4] : [2, 3, 4]
        guard !ranks.contains(a.shape.count) else { return nil }
        return self == .thd ? "[total_tokens, heads, d]" : "[batch, seqlen, heads, d] or [seqlen, heads, d]"
    }

    /// `a` with the two axes before the last swapped: [..., A, B, d] → [..., B, A, d] (bshd or
    /// thd to bhsd and back: the swap is its own inverse).
    static func swapped(_ a: NpyArray) -> NpyArray {
        let s = a.shape
        let (x, y, w) = (s[s.count - 3], s[s.count - 2], s[s.count - 1])
        let outer = s.dropLast(3).reduce(1, *)
        var data = [Double](repeating: 0, count: a.data.count)
        for o in 0..<outer {
            for i in 0..<x {
                for j in 0..<y {
                    let from = ((o * x + i) * y + j) * w, to = ((o * y + j) * x + i) * w
                    for k in 0..<w { data[to + k] = a.data[from + k] }
                }
            }
        }
        return NpyArray(shape: Array(s.dropLast(3)) + [y, x, w], data: data, dtype: a.dtype)
    }

    /// `path`'s array in bhsd, written into `folder` (the two axes before the last swapped), or
    /// `path` itself under bhsd. The values are copied exactly in the file's own dtype.
    func bhsd(_ path: String, flag: String, raws: [Npy.RawFormat], folder: String) throws(KernelOutputCheck.InputError) -> String {
        guard self != .bhsd else { return path }
        let a: NpyArray
        do { a = try Npy.RawFormat.first(raws) { (raw) throws(NpyError) in try AtomicFiles.readNpy(path, raw: raw) } } catch {
            throw .init("\(flag) \(path): \(error.description)")
        }
        if let want = refusal(a) { throw .init("\(flag) \(path) has shape \(a.shape); --layout \(rawValue) takes \(want)") }
        let out = folder + "/" + flag.dropFirst(2) + ".npy"
        do { try AtomicFiles.write([(out, Npy.encode(Self.swapped(a)))]) } catch {
            throw .init("cannot write a temporary copy of \(flag) in \(folder): \(error.description)")
        }
        return out
    }
}
