import IOSimCore
import IOSimFormats

extension KernelTarget {
    /// The target a hardware model describes: wgmma/TMA ⇒ sm90; else ≥ 144 KiB of shared memory
    /// per block ⇒ sm80; else sm8x.
    public init(_ hw: HardwareModel) {
        if hw.hasWgmmaTMA {
            self = .sm90
        } else {
            self = hw.smemPerBlock >= 144 * 1024 ? .sm80 : .sm8x
        }
    }
}
