import Foundation

/// Finding and reading `Models/` data files, with errors that name the file and the field.
public enum ModelFile {
    /// Folders searched for `Models/<kind>/<name>.json`: `$IOSIM_MODELS`, `./Models`, and the
    /// `Models` folder of the checkout the executable was built in (`.build/<config>/iosim`).
    public static func searchPath() -> [String] {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["IOSIM_MODELS"] { dirs.append(env) }
        dirs.append(FileManager.default.currentDirectoryPath + "/Models")
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dirs.append(exe.appendingPathComponent("Models").path)
            exe = exe.deletingLastPathComponent()
        }
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

    public static func hardware(_ nameOrPath: String) throws(ModelError) -> HardwareModel {
        let path = try locate(nameOrPath, kind: "hardware")
        return try HardwareModel(json: read(path), path: path)
    }

    public static func workload(_ nameOrPath: String) throws(ModelError) -> WorkloadModel {
        let path = try locate(nameOrPath, kind: "workloads")
        return try WorkloadModel(json: read(path), path: path)
    }

    static func read(_ path: String) throws(ModelError) -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        return data
    }

    static func object(_ data: Data, path: String, fields: [String]) throws(ModelError) -> [String: Any] {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw .malformed(path: path, detail: (error as NSError).localizedDescription)
        }
        guard let o = parsed as? [String: Any] else { throw .malformed(path: path, detail: "the top level must be an object") }
        for f in fields where o[f] == nil { throw .missingField(path: path, field: f) }
        return o
    }

    static func string(_ o: [String: Any], _ f: String, _ path: String) throws(ModelError) -> String {
        guard let s = o[f] as? String, !s.isEmpty else { throw .wrongType(path: path, field: f, expected: "a non-empty string") }
        return s
    }

    static func number(_ o: [String: Any], _ f: String, _ path: String, nullable: Bool = false) throws(ModelError) -> Double? {
        if nullable, o[f] is NSNull { return nil }
        guard let n = o[f] as? NSNumber, n.doubleValue > 0, n.doubleValue.isFinite else {
            throw .wrongType(path: path, field: f, expected: nullable ? "a positive number or null" : "a positive number")
        }
        return n.doubleValue
    }

    static func number(_ o: [String: Any], _ f: String, _ path: String) throws(ModelError) -> Double {
        try number(o, f, path, nullable: false)!
    }

    static func int(_ o: [String: Any], _ f: String, _ path: String) throws(ModelError) -> Int {
        let x = try number(o, f, path)
        guard x == x.rounded(), x < 1e15 else { throw .wrongType(path: path, field: f, expected: "a positive integer") }
        return Int(x)
    }
}
