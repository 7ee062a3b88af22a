import Foundation
import NpyIO
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The command line on measured data and resource limits: impossible Nsight measurements and
/// broken hardware files are refused in one line that names what is wrong; text from a user's
/// files never reaches the terminal raw; `check` fails NaN outputs and NaN inputs with a reason;
/// the memory guard refuses under `ulimit -v` before allocating; SIGINT and SIGTERM end a long
/// run with one line and 128 + the signal.
@Suite struct MeasuredDataCLI {
    /// A one-line error: exactly one newline, at the end, and the "iosim: " prefix.
    static func oneLine(_ err: String, prefix: String = "iosim: ") -> Bool {
        err.hasPrefix(prefix) && err.hasSuffix("\n") && err.filter { $0 == "\n" }.count == 1 && !err.contains("Fatal error")
            && !err.contains("Stack dump")
    }

    /// Whether the text holds a control character other than a newline (what a terminal acts on).
    static func hasRawControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 != "\n" && ($0.value < 0x20 || (0x7F...0x9F).contains($0.value)) }
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: - compare: impossible measurements

    static let torchFlashArgs = ["--N", "4096", "--d", "64", "--heads", "8", "--schedule", "fa2", "--Br", "128", "--Bc", "128", "--M", "228KiB"]
    static let decodeArgs = ["--N", "1", "--Nk", "4K", "--d", "128", "--heads", "32", "--batch", "8", "--schedule", "fa2"]

    /// A recorded CSV's lines (1-based numbering in the cases below).
    static func lines(_ file: String) throws -> [String] {
        try String(contentsOf: Repo.gpuReports.appendingPathComponent(file), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// A details-page line with its last cell (the Metric Value) replaced.
    static func withValue(_ line: String, _ value: String) throws -> String {
        let cut = try #require(line.range(of: ",\"", options: .backwards))
        return line[..<cut.lowerBound] + ",\"" + value + "\""
    }

    /// One impossible measurement, put into a recorded CSV (torch_flash_ncu_raw.csv is the details
    /// page: line 4 the header, line 5 launch 0's dram__bytes_read.sum, 6 its dram__bytes_write.sum,
    /// 8 its l1tex__m_xbar2l1tex_read_bytes.sum; decode_ncu_raw.csv the raw page: line 3 launch 0,
    /// line 4 launch 1).
    enum BadMeasurement: String, CaseIterable, Sendable {
        case nan, negative, overflow, timeUnitOnByteMetric, fractionalPlainBytes, duplicateLaunchID, duplicateMetricOfALaunch

        /// The CSV's text, the compare flags, and what the message must name.
        func csv() throws -> (text: String, args: [String], names: [String]) {
            let read = "l1tex__m_xbar2l1tex_read_bytes.sum"
            var l = try MeasuredDataCLI.lines(self == .duplicateLaunchID ? "decode_ncu_raw.csv" : "torch_flash_ncu_raw.csv")
            var names: [String]
            switch self {
            case .nan, .negative, .overflow:
                let value = ["nan", "-5", "1e400"][[.nan, .negative, .overflow].firstIndex(of: self)!]
                #expect(l[7].contains("\"\(read)\",\"byte\""))
                l[7] = try MeasuredDataCLI.withValue(l[7], value)
                names = [
                    "line 8 of the CSV", "\(read) = '\(value)'",
                    ["not a number", "negative", "not finite"][[.nan, .negative, .overflow].firstIndex(of: self)!],
                ]
            case .timeUnitOnByteMetric:
                #expect(l[4].contains("\"dram__bytes_read.sum\",\"byte\",\"12,653,056\""))
                l[4] = l[4].replacingOccurrences(of: "\"byte\",\"12,653,056\"", with: "\"nsecond\",\"12,653,056\"")
                names = ["line 5 of the CSV", "dram__bytes_read.sum = '12,653,056'", "in 'nsecond', not a unit of bytes"]
            case .fractionalPlainBytes:
                #expect(l[5].contains("\"dram__bytes_write.sum\",\"byte\",\"69,632\""))
                l[5] = try MeasuredDataCLI.withValue(l[5], "69,632.5")
                names = ["line 6 of the CSV", "dram__bytes_write.sum = '69,632.5'", "not a whole number of bytes"]
            case .duplicateLaunchID:
                #expect(l[3].hasPrefix("\"1\","))
                l[3] = "\"0\"" + l[3].dropFirst(3)
                names = ["line 4 of the CSV", "launch ID 0 appears again (first on line 3)"]
            case .duplicateMetricOfALaunch:
                l.insert(l[7], at: 8)
                names = ["line 9 of the CSV", "launch ID 0 has a second value for \(read)"]
            }
            return (l.joined(separator: "\n"), self == .duplicateLaunchID ? MeasuredDataCLI.decodeArgs : MeasuredDataCLI.torchFlashArgs, names)
        }
    }

    @Test(arguments: BadMeasurement.allCases)
    func compareRefusesAnImpossibleMeasurementWithExitTwoNamingLineMetricAndValue(_ bad: BadMeasurement) throws {
        let folder = try TemporaryFolder(prefix: "iosim-bad-ncu")
        defer { folder.remove() }
        let (text, args, names) = try bad.csv()
        try Self.write(text, to: folder.file("r.csv"))
        let r = CLI.run(["compare", "--ncu", folder.file("r.csv")] + args)
        #expect(r.status == 2, "\(r.err)")
        #expect(Self.oneLine(r.err, prefix: "iosim: compare: \(folder.file("r.csv")): "), "\(r.err)")
        for name in names { #expect(r.err.contains(name), "\(name) not in \(r.err)") }
        #expect(r.out.isEmpty)
    }

    // MARK: - hardware files

    /// The H100 file with `replacements` (exact text → text) applied.
    static func hardwareFile(_ folder: TemporaryFolder, _ replacements: [(String, String)]) throws -> String {
        var text = try String(contentsOf: Repo.hardwareModel("h100-sxm"), encoding: .utf8)
        for (old, new) in replacements {
            try #require(text.contains(old), "h100-sxm.json has no \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        let path = folder.file("hw-\(UUID().uuidString.prefix(8)).json")
        try write(text, to: path)
        return path
    }

    @Test func aHardwareFileWithThreeBrokenFieldsFailsInOneLineNamingAllThree() throws {
        let folder = try TemporaryFolder(prefix: "iosim-bad-hw")
        defer { folder.remove() }
        let file = try Self.hardwareFile(
            folder,
            [
                ("\"sms\": 132,", "\"sms\": \"many\","), ("\"clock_hz\": 1830000000.0,", "\"clock_hz\": -1,"),
                ("\"hbm_bandwidth_bytes_per_s\": 3350000000000.0,", "\"hbm_bandwidth_bytes_per_s\": true,"),
            ])
        let r = CLI.run(["simulate", "--N", "1024", "--hardware", file])
        #expect(r.status == 1, "\(r.err)")
        #expect(Self.oneLine(r.err, prefix: "iosim: \(file): 3 errors: "), "\(r.err)")
        for field in ["'sms'", "'clock_hz'", "'hbm_bandwidth_bytes_per_s'"] { #expect(r.err.contains(field), "\(field): \(r.err)") }
        #expect(r.out.isEmpty)
    }

    @Test func aClockOf1e300thHertzIsRefusedNotAnInfiniteEstimate() throws {
        let folder = try TemporaryFolder(prefix: "iosim-bad-hw")
        defer { folder.remove() }
        let file = try Self.hardwareFile(folder, [("\"clock_hz\": 1830000000.0,", "\"clock_hz\": 1e-300,")])
        for format in ["table", "json"] {
            let r = CLI.run(["simulate", "--N", "1024", "--schedule", "fa2", "--hardware", file, "--format", format])
            #expect(r.status == 1, "\(format): exit \(r.status), \(r.out)")
            #expect(Self.oneLine(r.err) && r.err.contains("'clock_hz'") && r.err.contains("1e-300"), "\(r.err)")
            #expect(!r.out.lowercased().contains("inf"), "\(r.out)")
        }
    }

    // MARK: - text from files on the terminal

    @Test func aKernelNameWithEscapeAndLineBreaksIsEchoedEscapedInOneLine() throws {
        let folder = try TemporaryFolder(prefix: "iosim-esc")
        defer { folder.remove() }
        // A raw newline cannot sit inside a CSV line here (lines are split first): CR and NEL,
        // which also move a terminal's cursor, stand for it.
        let name = "evil\u{1B}[2J\u{1B}[31mkernel\rline\u{85}two<int>(p)"
        let csv = """
            "ID","Kernel Name","Grid Size","l1tex__m_xbar2l1tex_read_bytes.sum"
            "","","","byte"
            "0","\(name)","(1, 1, 1)","1,024"

            """
        try Self.write(csv, to: folder.file("r.csv"))
        let r = try Repo.execute(["compare", "--ncu", folder.file("r.csv"), "--schedule", "fa2", "--match", "nothing-matches"])
        #expect(r.status == 2, "\(r.err)")
        #expect(Self.oneLine(r.err, prefix: "iosim: compare: ") && !Self.hasRawControl(r.err), "\(r.err.debugDescription)")
        #expect(!r.stderr.contains(0x1B) && !r.stderr.contains(0x0D))
        #expect(r.err.contains("evil\\u{1B}[2J\\u{1B}[31mkernel\\u{D}line\\u{85}two"), "\(r.err)")
    }

    @Test func aCSVPathWithEscapeAndNewlineIsEchoedWholeAndEscaped() throws {
        let path = "/nonexistent/a\u{1B}[31mb\nc.csv"
        let r = CLI.run(["compare", "--ncu", path, "--schedule", "fa2"])
        #expect(r.status == 2, "\(r.err)")
        #expect(Self.oneLine(r.err, prefix: "iosim: compare: ") && !Self.hasRawControl(r.err), "\(r.err.debugDescription)")
        #expect(r.err.contains("/nonexistent/a\\u{1B}[31mb\\u{A}c.csv: cannot be read"), "\(r.err)")
    }

    @Test func aHardwarePathWithEscapeAndNewlineIsEchoedEscapedInOneLine() throws {
        let path = "/nonexistent/gpu\u{1B}[31mname\nsecond.json"
        let r = CLI.run(["simulate", "--N", "1024", "--hardware", path])
        #expect(r.status == 1, "\(r.err)")
        #expect(Self.oneLine(r.err) && !Self.hasRawControl(r.err), "\(r.err.debugDescription)")
        #expect(r.err.contains("gpu\\u{1B}[31mname"), "\(r.err)")
        // The message goes on after the newline in the path (the command's error path keeps only
        // the first line of a message, so a newline in a file name cuts the rest off).
        #expect(r.err.contains("name\\u{A}second.json") && r.err.contains("IOSIM_MODELS"), "\(r.err)")
    }

    @Test func aHardwareNameWithEscapeAndNewlineNeverReachesTheTerminalRaw() throws {
        let folder = try TemporaryFolder(prefix: "iosim-esc")
        defer { folder.remove() }
        let file = try Self.hardwareFile(folder, [("\"name\": \"NVIDIA H100 SXM5 80GB\"", "\"name\": \"Evil\\u001b[31mGPU\\nsecond line\"")])
        // fp32 has no tensor rate: the table's footnote says why, with the GPU's name.
        let r = CLI.run(["simulate", "--N", "1024", "--dtype", "fp32", "--hardware", file])
        #expect(r.status == 0 && r.err.isEmpty, "\(r.err)")
        #expect(r.out.contains("Evil\\u{1B}[31mGPU\\u{A}second line"), "the header line escapes it")
        #expect(!Self.hasRawControl(r.out), "\(r.out.debugDescription)")
    }

    // MARK: - check: non-finite outputs and inputs

    /// q, k, v (fp16, [1, 2, 64, 32]) and an O, written with NpyIO's encoder.
    struct CheckFiles {
        let folder: TemporaryFolder
        static let dims = [1, 2, 64, 32]
        static let count = 2 * 64 * 32

        init(q: [Double]? = nil, o: [Double]) throws {
            folder = try TemporaryFolder(prefix: "iosim-check-nan")
            var rng = SeededGenerator(seed: 0x4E61_4E)
            for (name, values) in [("q", q ?? rng.doubles(Self.count)), ("k", rng.doubles(Self.count)), ("v", rng.doubles(Self.count)), ("o", o)] {
                let array = NpyArray(shape: Self.dims, data: values, dtype: .float16)
                try Data(Npy.encode(array)).write(to: URL(fileURLWithPath: folder.file("\(name).npy")))
            }
        }

        func run(_ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
            try Repo.run(["check", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--o", "o.npy", "--dtype", "fp16"] + extra, in: folder.url)
        }

        func json() throws -> (status: Int32, tensor: [String: Any]) {
            let r = try run(["--format", "json"])
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out) \(r.err)")
            #expect(obj["passed"] as? Bool == false)
            let tensors = try #require(obj["tensors"] as? [[String: Any]])
            return (r.status, try #require(tensors.first { $0["name"] as? String == "O" }))
        }
    }

    @Test func checkFailsAnAllNaNOutputWithNaNInTheTableAndAReason() throws {
        let files = try CheckFiles(o: Array(repeating: .nan, count: CheckFiles.count))
        defer { files.folder.remove() }
        let table = try files.run()
        #expect(table.status == 1 && table.err.isEmpty, "\(table.err)")
        let row = try #require(table.out.split(separator: "\n").first { $0.hasPrefix("O ") }, "\(table.out)")
        #expect(row.contains("NaN") && row.hasSuffix("FAIL"), "\(row)")
        let fail = try #require(table.out.split(separator: "\n").first { $0.hasPrefix("FAIL: O: ") }, "\(table.out)")
        #expect(fail.contains("\(CheckFiles.count) elements are NaN or infinite where the reference is finite"), "\(fail)")
        let (status, o) = try files.json()
        #expect(status == 1)
        #expect(o["max_abs_error"] as? String == "NaN", "\(o)")
        #expect(o["passed"] as? Bool == false && o["non_finite_outputs"] as? Int == CheckFiles.count)
        #expect((o["reason"] as? String)?.contains("NaN or infinite") == true, "\(o["reason"] ?? "none")")
    }

    @Test func checkFailsANaNInQBecauseTheReferenceCannotVouchForIt() throws {
        var rng = SeededGenerator(seed: 7)
        var q = rng.doubles(CheckFiles.count)
        q[5 * 32 + 3] = .nan  // head 0, row 5: that row's reference is NaN
        let files = try CheckFiles(q: q, o: Array(repeating: 0, count: CheckFiles.count))
        defer { files.folder.remove() }
        let table = try files.run()
        #expect(table.status == 1 && table.err.isEmpty, "\(table.err)")
        #expect(table.out.contains("FAIL: O: the reference is NaN or infinite at 32 elements"), "\(table.out)")
        let (status, o) = try files.json()
        #expect(status == 1 && o["non_finite_reference"] as? Int == 32, "\(o)")
        #expect((o["reason"] as? String)?.contains("nothing there can be checked") == true, "\(o["reason"] ?? "none")")
    }

    // MARK: - the memory guard under ulimit -v

    /// iosim under `ulimit -v kib` (through bash), and its wall time.
    static func limited(_ kib: Int, _ args: [String], in folder: URL? = nil) throws -> (status: Int32, err: String, seconds: Double) {
        let start = ContinuousClock.now
        let r = try runProcess(
            URL(fileURLWithPath: "/bin/bash"), ["-c", "ulimit -v \(kib); exec \"$0\" \"$@\"", Repo.iosim.path] + args, in: folder)
        let elapsed = ContinuousClock.now - start
        return (r.status, r.err, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// The budget a refusal states ("more than the X MB this process may use now"), in MB.
    static func statedBudget(_ err: String) -> Int? {
        guard let r = err.range(of: "more than the ") else { return nil }
        return Int(err[r.upperBound...].prefix { $0.isNumber })
    }

    @Test(arguments: [
        ["--mode", "data", "--N", "60000", "--d", "128", "--heads", "8", "--M", "100KB", "--schedule", "fa2"],
        ["verify", "--N", "60000", "--d", "128", "--heads", "8", "--M", "100KB", "--schedule", "fa2"],
        ["fp8-error", "--N", "400000", "--d", "128", "--heads", "8"],
    ])
    func underUlimitAComputationTooLargeIsRefusedInOneLineAtOnce(args: [String]) throws {
        let r = try Self.limited(600_000, args)
        #expect(r.status == 1, "\(args.prefix(2)): exit \(r.status), \(r.err)")
        #expect(Self.oneLine(r.err), "\(r.err)")
        #expect(r.seconds < 5, "\(r.seconds) s")
        // The limit that refused it is the ulimit's (600000 KiB less what the process maps), not
        // the machine's memory.
        let budget = try #require(Self.statedBudget(r.err), "\(r.err)")
        #expect(budget < 615, "budget \(budget) MB: \(r.err)")
    }

    @Test func underUlimitCheckRefusesFilesTooLargeWithExitTwoBeforeReadingThem() throws {
        let folder = try TemporaryFolder(prefix: "iosim-check-big")
        defer { folder.remove() }
        // Sparse fp16 files of [1, 1, 65536, 128] (16 MiB each, no blocks written): the check
        // would hold about 20·Nk·(d + dv) = 335 MB.
        let dims = [1, 1, 65536, 128]
        var header = "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 65536, 128), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let prefix = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
        for name in ["q", "k", "v", "o"] {
            let path = folder.file("\(name).npy")
            try Data(prefix).write(to: URL(fileURLWithPath: path))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(prefix.count + dims.reduce(1, *) * 2))
            try handle.close()
        }
        let r = try Self.limited(
            400_000, ["check", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--o", "o.npy", "--dtype", "fp16"], in: folder.url)
        #expect(r.status == 2, "exit \(r.status), \(r.err)")
        #expect(Self.oneLine(r.err, prefix: "iosim: check: checking these files needs about "), "\(r.err)")
        #expect(r.err.contains("ulimit -v"), "\(r.err)")
        #expect(r.seconds < 5, "\(r.seconds) s")
    }

    // MARK: - interrupts

    final class Captured: @unchecked Sendable {
        var data = Data()  // written by the reader thread, read after `group.wait()`
        var error: (any Error)?
    }

    static let longVerify = ["verify", "--N", "6000", "--d", "128", "--heads", "4", "--M", "100KB", "--schedule", "fa2"]

    /// Starts a verify that runs for a minute, sends `signal` after 2 s, and waits `patience`
    /// seconds for it to end (then kills it). `blocked`: started from a thread that blocks SIGINT
    /// and SIGTERM, which the child inherits (as from a libdispatch worker thread: Foundation's
    /// Process keeps the spawning thread's signal mask); otherwise through `sh -c 'exec …'`, which
    /// starts it with no signal blocked, as a shell does.
    static func interruptedVerify(_ signal: Int32, blocked: Bool = false, patience: Double = 15) throws -> (
        reason: Process.TerminationReason, status: Int32, err: String, ended: Bool
    ) {
        let p = Process()
        if blocked {
            p.executableURL = Repo.iosim
            p.arguments = longVerify
        } else {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec \"$0\" \"$@\"", Repo.iosim.path] + longVerify
        }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let captured = Captured(), started = DispatchSemaphore(value: 0)
        let spawner = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nil)
            do { try p.run() } catch { captured.error = error }
            started.signal()
        }
        spawner.start()
        started.wait()
        if let error = captured.error { throw error }
        let group = DispatchGroup(), reader = err.fileHandleForReading
        DispatchQueue.global().async(group: group) { captured.data = reader.readDataToEndOfFile() }
        Thread.sleep(forTimeInterval: 2)
        #expect(p.isRunning, "verify ended before the signal")
        kill(p.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(patience)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let ended = !p.isRunning
        if !ended { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        group.wait()
        return (p.terminationReason, p.terminationStatus, String(decoding: captured.data, as: UTF8.self), ended)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalEndsALongVerifyWithOneLineAndExit128PlusTheSignal(_ signal: Int32) throws {
        let r = try Self.interruptedVerify(signal)
        #expect(r.ended, "still running 15 s after signal \(signal)")
        // The handler exits with 128 + signal; a death by the signal itself is not the contract.
        #expect(r.reason == .exit && r.status == 128 + signal, "reason \(r.reason.rawValue), status \(r.status)")
        let lines = r.err.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.last == "iosim: interrupted", "\(r.err.suffix(200).debugDescription)")
        #expect(!r.err.contains("Fatal error") && !r.err.contains("Stack dump"))
    }

    @Test func aSignalEndsAVerifyStartedWithSignalsBlocked() throws {
        let r = try Self.interruptedVerify(SIGTERM, blocked: true, patience: 3)
        #expect(r.ended && r.reason == .exit && r.status == 143, "reason \(r.reason.rawValue), status \(r.status)")
    }
}
