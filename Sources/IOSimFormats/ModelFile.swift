import Foundation
import Synchronization

/// Finding and reading `Models/` data files, with errors that name the file and the field.
public enum ModelFile {
    /// Folders searched for `Models/<kind>/<name>.json`, in order: `$IOSIM_MODELS`, `./Models`,
    /// `Models` beside the executable or in any of its four parent folders (the real executable,
    /// found through /proc/self/exe, so that a symlink or a PATH lookup still finds the checkout
    /// it was built in), and the checkout this file was compiled from.
    public static func searchPath() -> [String] {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["IOSIM_MODELS"] { dirs.append(env) }
        dirs.append(FileManager.default.currentDirectoryPath + "/Models")
        dirs += Resources.installRoots().map { $0 + "/Models" }
        var seen = Set<String>()
        return dirs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.filter { seen.insert($0).inserted }
    }

    /// The file for `nameOrPath`: an existing file path, or a model name looked up in the search path.
    public static func locate(_ nameOrPath: String, kind: String) throws(ModelError) -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDir), !isDir.boolValue { return nameOrPath }
        let dirs = searchPath()
        for dir in dirs {
            let path = "\(dir)/\(kind)/\(nameOrPath.lowercased()).json"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw .notFound(name: nameOrPath, kind: kind, searched: dirs.map { "\($0)/\(kind)" })
    }

    /// Names of the models of a kind found in the search path.
    public static func available(kind: String) -> [String] {
        let names = searchPath().flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(kind)")) ?? [])
                .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
        }
        return Array(Set(names)).sorted()
    }

    /// A preset's `base`: `NAME.json` in the preset's own folder, else the model `NAME` (a path or
    /// a name in the search path).
    package static func locateBase(_ base: String, beside preset: String) throws(ModelError) -> String {
        let folder = URL(fileURLWithPath: preset).deletingLastPathComponent().path
        let sibling = "\(folder)/\(base.lowercased()).json"
        if FileManager.default.fileExists(atPath: sibling), !base.contains("/") { return sibling }
        return try locate(base, kind: "workloads")
    }

    package static func read(_ path: String) throws(ModelError) -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        return data
    }

    package static func object(_ data: Data, path: String, fields: [String]) throws(ModelError) -> [String: StrictJSON] {
        let parsed: StrictJSON
        do { parsed = try StrictJSON.parse([UInt8](data)) } catch { throw .malformed(path: path, detail: error.description) }
        guard case let .object(o) = parsed else { throw .malformed(path: path, detail: "the top level must be an object") }
        for f in fields where o[f] == nil { throw .missingField(path: path, field: f) }
        return o
    }

    /// Whether an optional group of measured fields is given: none (false) or all (true), each
    /// with its own `sources` entry naming where `what` was measured; a partial group throws.
    package static func group(_ o: [String: StrictJSON], _ fields: [String], _ path: String, what: String = "it") throws(ModelError) -> Bool {
        guard fields.contains(where: { o[$0] != nil }) else { return false }
        for f in fields where o[f] == nil { throw .missingField(path: path, field: f) }
        for f in fields {
            guard case let .object(sources) = o["sources"], case let .string(s) = sources[f], !s.isEmpty else {
                throw .wrongType(path: path, field: "sources", expected: "an object with a '\(f)' entry naming where \(what) was measured")
            }
        }
        return true
    }

    package static func string(_ o: [String: StrictJSON], _ f: String, _ path: String) throws(ModelError) -> String {
        guard case let .string(s) = o[f], !s.isEmpty else { throw .wrongType(path: path, field: f, expected: "a non-empty string") }
        return s
    }

    /// A positive number in `min...max` (booleans are not numbers here, whatever JSON readers do).
    /// `min` keeps a physically meaningless value (a clock of 10⁻³⁰⁰ Hz) from turning every
    /// derived figure into infinity.
    package static func number(
        _ o: [String: StrictJSON], _ f: String, _ path: String, min: Double = 0, max: Double,
        nullable: Bool = false
    ) throws(ModelError) -> Double? {
        if nullable, o[f] == .null { return nil }
        guard case let .number(n) = o[f], n > 0 else {
            throw .wrongType(path: path, field: f, expected: (nullable ? "a positive number or null" : "a positive number") + got(o[f]))
        }
        guard n >= min else { throw .wrongType(path: path, field: f, expected: "at least \(min) (got \(n))") }
        guard n <= max else { throw .wrongType(path: path, field: f, expected: "at most \(max) (got \(n))") }
        return n
    }

    package static func number(_ o: [String: StrictJSON], _ f: String, _ path: String, min: Double = 0, max: Double) throws(ModelError) -> Double {
        try number(o, f, path, min: min, max: max, nullable: false)!
    }

    /// " (got …)" for an error message: the value as the file wrote it, shortened.
    package static func got(_ v: StrictJSON?) -> String {
        guard let v else { return " (it is missing)" }
        let text: String
        switch v {
        case let .number(n): text = "\(n)"
        case let .string(s): text = "\"" + (s.count > 40 ? String(s.prefix(40)) + "…" : s) + "\""
        case let .bool(b): text = "\(b)"
        case .null: text = "null"
        case .array: text = "an array"
        case .object: text = "an object"
        }
        return " (got \(text))"
    }

    package static func int(_ o: [String: StrictJSON], _ f: String, _ path: String, max: Int) throws(ModelError) -> Int {
        guard case let .number(x) = o[f], x > 0, x == x.rounded() else {
            throw .wrongType(path: path, field: f, expected: "a positive integer" + got(o[f]))
        }
        guard x <= Double(max) else { throw .wrongType(path: path, field: f, expected: "at most \(max) (got \(x))") }
        return Int(x)
    }
}

/// Reads a model file's fields one by one and keeps every error instead of stopping at the first,
/// so that one run names everything wrong with a file.
package struct FieldErrors {
    package let path: String
    package var errors: [ModelError] = []

    package init(path: String) { self.path = path }

    /// `body`'s value, or `fallback` with its error kept.
    package mutating func read<T>(_ fallback: T, _ body: () throws(ModelError) -> T) -> T {
        do { return try body() } catch {
            errors.append(error)
            return fallback
        }
    }

    /// Throws the one error, or all of them as ``ModelError/several(path:_:)``.
    package func check() throws(ModelError) {
        if errors.count == 1 { throw errors[0] }
        if errors.count > 1 { throw .several(path: path, errors) }
    }
}
