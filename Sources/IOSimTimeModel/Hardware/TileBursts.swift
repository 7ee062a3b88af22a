import IOSimCore
import IOSimFormats

/// How long a CTA waits for a tile it requested all at once, measured on the GPU (the optional
/// `tile_burst_4kib_s`, `tile_burst_16kib_s`, `tile_burst_32kib_s` fields;
/// `Benchmarks/gpu/tile_step_probe.cu`, `Reports/gpu/tile_step_probe.txt`).
///
/// An unpipelined kernel (`--stages 1`: Triton's `num_stages = 1`, as FlexAttention's decode
/// kernel) issues a tile's loads, waits for all of them, works, and only then issues the next
/// tile's: each tile costs a whole memory round trip, whatever the bandwidth. The probe measured
/// that round trip for one CTA alone on the GPU (the three fields) and with n CTAs requesting
/// tiles at the same time. Two bounds describe it within −15% … +18% over 1–8 warps, 4–32 KiB
/// tiles and 1–1056 CTAs (docs/time-model.md, "Unpipelined CTAs"):
///
///     t(B, n) = max( alone(B),  alone(4 KiB) + n·B / bandwidth )
///
/// alone(B): the fields, linear between them, the 4 KiB value below 4 KiB (a latency floor),
/// the 16–32 KiB slope beyond 32 KiB. The second bound is the first bytes' latency (a small
/// burst alone) plus the n requests ahead of the last byte drained at the HBM bandwidth. In a
/// kernel, n counts the CTAs in flight times the fraction of their time they wait on loads
/// (Little's law; the probe's CTAs do nothing else).
public struct TileBursts: Sendable, Equatable {
    /// One CTA alone on the GPU: seconds from issuing a 4, 16 and 32 KiB tile to having it.
    public var alone4KiB: Double
    public var alone16KiB: Double
    public var alone32KiB: Double

    public init(alone4KiB: Double, alone16KiB: Double, alone32KiB: Double) {
        (self.alone4KiB, self.alone16KiB, self.alone32KiB) = (alone4KiB, alone16KiB, alone32KiB)
    }

    /// The hardware-file fields, in the order of the initialiser.
    package static let fields = ["tile_burst_4kib_s", "tile_burst_16kib_s", "tile_burst_32kib_s"]

    /// A lone CTA's wait for a `bytes` tile (see above).
    public func alone(bytes: Double) -> Double {
        let (k4, k16, k32) = (4096.0, 16384.0, 32768.0)
        if bytes <= k4 { return alone4KiB }
        if bytes <= k16 { return alone4KiB + (bytes - k4) * (alone16KiB - alone4KiB) / (k16 - k4) }
        return alone16KiB + (bytes - k16) * (alone32KiB - alone16KiB) / (k32 - k16)
    }

    /// The wait for a `bytes` tile when `concurrent` CTAs (on average) request theirs at the same time.
    public func seconds(bytes: Double, concurrent: Double, bandwidth: Double) -> Double {
        max(alone(bytes: bytes), alone4KiB + max(1, concurrent) * bytes / bandwidth)
    }

    /// The optional fields: absent (nil), or all three, positive, below a second, not decreasing
    /// with the tile's size, each with its own `sources` entry.
    static func parse(_ o: [String: StrictJSON], _ path: String) throws(ModelError) -> TileBursts? {
        guard try ModelFile.group(o, fields, path) else { return nil }
        var v: [Double] = []
        for f in fields { v.append(try ModelFile.number(o, f, path, min: HardwareModel.Range.minLatency, max: HardwareModel.Range.latency)) }
        if let i = (1..<v.count).first(where: { v[$0] < v[$0 - 1] }) {
            throw .wrongType(path: path, field: fields[i], expected: "at least '\(fields[i - 1])': a larger tile takes no less time")
        }
        return TileBursts(alone4KiB: v[0], alone16KiB: v[1], alone32KiB: v[2])
    }
}
