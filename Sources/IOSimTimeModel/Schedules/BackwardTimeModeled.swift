import IOSimCore
import IOSimFormats

/// A backward schedule with a time model of its own kernels (docs/time-model.md). It lives in
/// the time model, not in the counting core, so that the core needs no hardware: each backward
/// schedule's `+TimeModel` file here declares the conformance.
public protocol BackwardTimeModeled: Schedule {
    /// The schedule's backward time on `c` (nil: the counts lack a kernel the model needs).
    static func backwardTime(_ c: BackwardTimeContext) throws(ModelError) -> TimeEstimate.Breakdown?
}
