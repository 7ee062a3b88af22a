import Foundation
import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel

/// Tiles read from a FlashAttention-2 kernel's name as Nsight Compute prints it: the template
/// arguments of `Flash_fwd_kernel_traits<kHeadDim, kBlockM, kBlockN, kNWarps, …>` (forward and
/// split-KV kernels) and `Flash_bwd_kernel_traits<kHeadDim, kBlockM, kBlockN, kNWarps, …>`
/// (backward), in FlashAttention's `kernel_traits.h` order: Br = kBlockM, Bc = kBlockN.
public struct KernelNameTiles: Sendable, Equatable {
    /// The kernel's compiled head dimension (d rounded up).
    public var headDim: Int
    public var br: Int
    public var bc: Int
    public var warps: Int

    public init(headDim: Int, br: Int, bc: Int, warps: Int) { (self.headDim, self.br, self.bc, self.warps) = (headDim, br, bc, warps) }

    /// The forward (`backward == false`) or backward traits in `name`, or nil.
    public init?(_ name: String, backward: Bool) {
        let marker = backward ? "Flash_bwd_kernel_traits<" : "Flash_fwd_kernel_traits<"
        guard let start = name.range(of: marker)?.upperBound else { return nil }
        let numbers = name[start...].split(separator: ",", maxSplits: 4).prefix(4).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard numbers.count == 4, numbers.allSatisfy({ ($0 ?? 0) > 0 && $0! <= 1 << 16 }) else { return nil }
        (headDim, br, bc, warps) = (numbers[0]!, numbers[1]!, numbers[2]!, numbers[3]!)
    }
}
