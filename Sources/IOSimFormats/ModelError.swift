/// Why a model file cannot be used; each names the file, and the field where one is at fault.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case notFound(name: String, kind: String, searched: [String])
    case unreadable(path: String)
    case malformed(path: String, detail: String)
    case missingField(path: String, field: String)
    case wrongType(path: String, field: String, expected: String)
    case unsupported(String)
    /// Several errors in one file, each in ``detail``'s words.
    indirect case several(path: String, [ModelError])

    /// The field at fault, where the error names one.
    public var field: String? {
        switch self {
        case let .missingField(_, field), let .wrongType(_, field, _): field
        default: nil
        }
    }

    /// The error without the file's path in front (for ``several(path:_:)``'s list).
    public var detail: String {
        switch self {
        case let .missingField(_, field): "missing field '\(field)'"
        case let .wrongType(_, field, expected): "field '\(field)' must be \(expected)"
        default: description
        }
    }

    public var description: String {
        switch self {
        case let .notFound(name, kind, searched):
            "no \(kind) model '\(name)': not a file, and not in \(searched.joined(separator: ", ")) (set IOSIM_MODELS to the Models folder)"
                + { (names: [String]) in names.isEmpty ? "" : "; the \(kind) models are: " + names.joined(separator: ", ") }(
                    ModelFile.available(kind: kind))
        case let .unreadable(path): "\(path): cannot be read"
        case let .malformed(path, detail): "\(path): not valid JSON (\(detail))"
        case let .missingField(path, field): "\(path): missing field '\(field)'"
        case let .wrongType(path, field, expected): "\(path): field '\(field)' must be \(expected)"
        case let .unsupported(s): s
        case let .several(path, errors): "\(path): \(errors.count) errors: " + errors.map(\.detail).joined(separator: "; ")
        }
    }
}
