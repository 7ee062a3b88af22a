import AttentionReference
import IOSimCore
import NpyIO

extension KernelOutputCheck {
    /// The verdict of a check: the problem it read and each tensor's result (the command line
    /// prints it as a table or as JSON, docs/output.md).
    public struct Report: Sendable {
        public var dtype: DType
        public var shape: AttentionShape
        public var mask: AttentionMask
        /// Soft cap, ALiBi slopes and sink logits applied to the scores.
        public var modification: ScoreModification = .none
        /// The score scale used (1/√d unless given).
        public var scale: Double
        public var blockRows: Int
        /// About the most memory the check held at once.
        public var memoryBytes: Int
        public var tensors: [TensorResult]
        public var passed: Bool { tensors.allSatisfy(\.passed) }
    }

    /// Input the check cannot use: a file that cannot be read, shapes that disagree, a dtype the
    /// kernel cannot have written. One line, for the user to act on.
    public struct InputError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public init(_ message: String) { self.message = message }

        /// An error met while reading and checking the files, in one line: the reader's or the
        /// reference's own description.
        public init(reading error: any Error) {
            switch error {
            case let e as InputError: message = e.message
            case let e as NpyError: message = e.description
            case let e as AttentionError: message = e.description
            default: message = "\(error)"
            }
        }

        public var description: String { message }
    }
}
