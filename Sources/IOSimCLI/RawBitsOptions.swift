import ArgumentParser
import NpyIO

/// `--bf16-bits` and `--fp8-bits`: how `.npy` files of raw 16-bit words or bytes are read, for the
/// commands that read a kernel's tensors (`check`, `attention`). PyTorch and ml_dtypes save
/// bfloat16 and fp8 as raw bits, which no NumPy dtype names.
struct RawBitsOptions: ParsableArguments {
    @Flag(name: .customLong("bf16-bits"), help: "Read 16-bit raw files ('<u2', '<i2', '<V2', '|V2') as bfloat16 bit patterns.")
    var bf16Bits = false
    @Option(
        name: .customLong("fp8-bits"),
        help: ArgumentHelp("Read raw byte files ('|u1', '|i1', '<V1', '|V1', '<f1') as fp8 of this format: e4m3 or e5m2.", valueName: "format"))
    var fp8Bits: String?

    /// The raw formats asked for (both flags may be given), or why `--fp8-bits` is not one.
    func formats() throws(RawBitsError) -> [Npy.RawFormat] {
        var raws: [Npy.RawFormat] = bf16Bits ? [.bfloat16] : []
        if let text = fp8Bits {
            switch text.lowercased() {
            case "e4m3", "e4m3fn": raws.append(.float8e4m3fn)
            case "e5m2": raws.append(.float8e5m2)
            default: throw RawBitsError(message: "unknown --fp8-bits '\(text)'; use e4m3 or e5m2")
            }
        }
        return raws
    }

}

/// An `--fp8-bits` value that names no format.
struct RawBitsError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
