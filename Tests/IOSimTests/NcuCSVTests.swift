import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Nsight Compute CSVs as `ncu` writes them, read from the recordings in Reports/gpu.
@Suite struct NcuCSVReading {
    static func text(_ name: String) throws -> String {
        try String(contentsOf: Repo.gpuReports.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func theRawPageWithItsUnitsRowAndThousandsSeparatorsIsRead() throws {
        let csv = try NcuCSV.parse(try Self.text("decode_ncu_raw.csv"))
        #expect(csv.launches.count == 15)
        let first = csv.launches[0]
        #expect(first.id == 0 && first.kernelName.hasPrefix("void flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4"))
        #expect(first.metrics["l1tex__m_xbar2l1tex_read_bytes.sum"] == 536_936_448)
        #expect(first.metrics["l1tex__m_l1tex2xbar_write_bytes.sum"] == 68_100_096)
        #expect(first.metrics["dram__bytes_read.avg"] == 13_425_100.80)
        // gpu__time_duration is in ns in the units row; read in seconds.
        #expect(first.metrics["gpu__time_duration.sum"] == 208_896 * 1e-9)
    }

    @Test func programOutputAndProfilerLinesBeforeTheHeaderAreSkipped() throws {
        let text = try Self.text("ncu_sample_torch_fwd_bwd.csv")
        #expect(text.hasPrefix("iosim ncu sample") && text.contains("==PROF=="))
        let csv = try NcuCSV.parse(text)
        #expect(csv.launches.count == 13)
        #expect(csv.launches.map(\.id) == Array(0..<13))
        #expect(csv.launches.contains { $0.kernelName.contains("flash_bwd_dq_dk_dv_loop_seqk_parallel") })
    }

    @Test func theDetailsPageOfSeveralAppendedRunsGivesOneLaunchPerRunAndID() throws {
        let text = try Self.text("ncu_raw.csv")
        let csv = try NcuCSV.parse(text)
        // Counted here without the parser: each appended run restarts at its header line, and a
        // launch is a distinct ID within a run (its metrics are one row each).
        var runs: [Set<String>] = [], firstDRAM: String?, firstTime: String?
        for line in text.split(whereSeparator: \.isNewline).map(String.init) {
            if line.hasPrefix("\"ID\"") {
                // `Set<String>()`, not `[]`: an empty literal here resolves to an empty sequence.
                runs.append(Set<String>())
                continue
            }
            guard !runs.isEmpty, line.hasPrefix("\"") else { continue }
            let cells = line.dropFirst().dropLast().components(separatedBy: "\",\"")
            runs[runs.count - 1].insert(cells[0])
            if runs.count == 1, cells[0] == "0", cells[12] == "dram__bytes_read.sum" { firstDRAM = cells[14] }
            if runs.count == 1, cells[0] == "0", cells[12] == "gpu__time_duration.sum", cells[13] == "ns" { firstTime = cells[14] }
        }
        #expect(runs.count > 1, "several appended runs")
        #expect(csv.launches.count == runs.reduce(0) { $0 + $1.count })
        // The first run is the standard schedule's three kernels.
        #expect(csv.launches.prefix(3).map { String($0.kernelName.prefix(12)) } == ["void scores<", "void softmax", "void pv<__ha"])
        let dram = try #require(firstDRAM.flatMap { Double($0.replacingOccurrences(of: ",", with: "")) })
        let ns = try #require(firstTime.flatMap { Double($0.replacingOccurrences(of: ",", with: "")) })
        #expect(csv.launches[0].metrics["dram__bytes_read.sum"] == dram)
        #expect(csv.launches[0].metrics["gpu__time_duration.sum"] == ns * 1e-9)
    }

    @Test func metricColumnsInAnyOrderGiveTheSameLaunches() throws {
        let text = try Self.text("decode_ncu_raw.csv")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Reverse every row's cells after the fixed ones: the metric columns in the opposite order.
        let fixed = 13
        let reordered = lines.map { line -> String in
            guard line.hasPrefix("\"") else { return line }
            let cells = try! NcuCSV.fields(line, line: 0)
            return (cells.prefix(fixed) + cells.dropFirst(fixed).reversed()).map { "\"\($0)\"" }.joined(separator: ",")
        }.joined(separator: "\n")
        #expect(try NcuCSV.parse(reordered) == NcuCSV.parse(text))
    }

    @Test func aFileWithoutAHeaderOrWithABrokenRowIsRefusedInOneLine() {
        #expect(throws: NcuCSVError.noHeader) { try NcuCSV.parse("==PROF== nothing profiled\n") }
        #expect(throws: NcuCSVError.badRow(line: 2, "it has 2 cells, the header 3")) {
            try NcuCSV.parse("\"ID\",\"Kernel Name\",\"x.sum\"\n\"0\",\"k\"\n")
        }
        #expect(throws: NcuCSVError.missingColumn("Kernel Name")) { try NcuCSV.parse("\"ID\",\"x\"\n") }
    }
}
