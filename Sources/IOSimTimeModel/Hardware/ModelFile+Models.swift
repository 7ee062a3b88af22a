import Foundation
import IOSimCore
import IOSimFormats
import Synchronization

/// The two kinds of model file the time model reads: a GPU (`Models/hardware`) and a workload
/// preset (`Models/workloads`).
extension ModelFile {
    /// The hardware model of a name or path, parsed once per process (a run asks for it from
    /// validation, the tile request, M and the estimates alike).
    public static func hardware(_ nameOrPath: String) throws(ModelError) -> HardwareModel {
        let path = try locate(nameOrPath, kind: "hardware")
        let data = try read(path)
        // Keyed by the bytes too, so that a file rewritten during a process is parsed again.
        if let cached = parsedHardware.withLock({ $0[path] }), cached.data == data { return try cached.result.get() }
        let result = Result { () throws(ModelError) in try HardwareModel(json: data, path: path) }
        parsedHardware.withLock { $0[path] = (data, result) }
        return try result.get()
    }

    private static let parsedHardware = Mutex<[String: (data: Data, result: Result<HardwareModel, ModelError>)]>([:])

    public static func workload(_ nameOrPath: String) throws(ModelError) -> WorkloadModel {
        let path = try locate(nameOrPath, kind: "workloads")
        return try WorkloadModel(json: read(path), path: path)
    }

}
