import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How many bytes this process may still allocate for one large computation, so that data mode,
/// `verify`, `fp8-error` and `check` refuse a problem before allocating rather than being killed
/// or aborting half-way. The budget is the smallest of:
///
/// - half the machine's physical memory (room for the rest of the system);
/// - the memory the kernel reports as available (`MemAvailable` in `/proc/meminfo`);
/// - what `RLIMIT_AS` and `RLIMIT_DATA` (`ulimit -v`, `ulimit -d`) leave beyond what the process
///   already maps (`VmSize`, `VmData` in `/proc/self/status`);
/// - what the process's cgroup leaves (v2 `memory.max` − `memory.current`, v1
///   `memory.limit_in_bytes` − `memory.usage_in_bytes`), as containers and CI runners set it.
///
/// Each figure that cannot be read (another OS, no cgroup) is left out. Reading them takes
/// microseconds: the refusal is immediate.
public struct MemoryBudget: Sendable, Equatable {
    /// Bytes that may still be allocated.
    public var bytes: Int
    /// Which limit set ``bytes`` (for the refusal's message).
    public var limitedBy: String

    public init(bytes: Int, limitedBy: String) {
        self.bytes = bytes
        self.limitedBy = limitedBy
    }

    /// The budget now.
    public static func current() -> MemoryBudget {
        var candidates = [MemoryBudget(bytes: Int(clamping: ProcessInfo.processInfo.physicalMemory / 2), limitedBy: "half the machine's memory")]
        let meminfo = keyedKiB(file("/proc/meminfo"))
        if let avail = meminfo["MemAvailable"] { candidates.append(MemoryBudget(bytes: avail, limitedBy: "the memory free now")) }
        let status = keyedKiB(file("/proc/self/status"))
        for (resource, name, key) in [(RLIMIT_AS, "ulimit -v (RLIMIT_AS)", "VmSize"), (RLIMIT_DATA, "ulimit -d (RLIMIT_DATA)", "VmData")] {
            var limit = rlimit()
            #if canImport(Glibc)
                let got = getrlimit(__rlimit_resource_t(UInt32(resource.rawValue)), &limit)
            #else
                let got = getrlimit(Int32(resource), &limit)
            #endif
            guard got == 0, limit.rlim_cur != rlim_t.max else { continue }  // RLIM_INFINITY
            // Under RLIMIT_AS every worker thread the computation starts maps its stack and a
            // malloc arena first; without room for them thread creation fails and the thread pool
            // retries forever instead of failing.
            let used = (status[key] ?? 0) + (resource == RLIMIT_AS ? threadReserve : 0)
            candidates.append(MemoryBudget(bytes: max(0, Int(clamping: limit.rlim_cur) - used), limitedBy: name))
        }
        if let cgroup = cgroupHeadroom() { candidates.append(cgroup) }
        return candidates.min { $0.bytes < $1.bytes }!
    }

    /// Address space the worker threads map before they allocate anything: per thread an 8 MiB
    /// stack and a 64 MiB malloc arena (glibc's defaults), for each core and two more.
    static var threadReserve: Int { (ProcessInfo.processInfo.activeProcessorCount + 2) * (72 << 20) }

    /// The cgroup's memory limit less its usage, where the process has one (v2, then v1).
    static func cgroupHeadroom() -> MemoryBudget? {
        let membership = file("/proc/self/cgroup") ?? ""
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[1].isEmpty {
                let dir = "/sys/fs/cgroup" + (path == "/" ? "" : path)
                if let max = number(file(dir + "/memory.max")), let cur = number(file(dir + "/memory.current")) {
                    return MemoryBudget(bytes: Swift.max(0, max - cur), limitedBy: "the cgroup's memory.max")
                }
            } else if parts[1].split(separator: ",").contains("memory") {
                for dir in ["/sys/fs/cgroup/memory" + path, "/sys/fs/cgroup/memory"] {
                    // v1 writes "no limit" as a number near 2⁶³.
                    if let max = number(file(dir + "/memory.limit_in_bytes")), max < 1 << 60,
                        let cur = number(file(dir + "/memory.usage_in_bytes"))
                    {
                        return MemoryBudget(bytes: Swift.max(0, max - cur), limitedBy: "the cgroup's memory.limit_in_bytes")
                    }
                }
            }
        }
        return nil
    }

    static func file(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A file holding one integer (`max` means no limit: nil).
    static func number(_ text: String?) -> Int? {
        guard let t = text?.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        return Int(t)
    }

    /// `Key:   123 kB` lines as bytes.
    static func keyedKiB(_ text: String?) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let fields = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let n = fields.first.flatMap({ Int($0) }), fields.count == 2, fields[1] == "kB" else { continue }
            out[String(parts[0])] = n.multipliedReportingOverflow(by: 1024).overflow ? Int.max : n * 1024
        }
        return out
    }
}
