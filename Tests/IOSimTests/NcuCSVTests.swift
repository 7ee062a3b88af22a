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
        let csv = try NcuCSV.parse(try Self.text("ncu_raw.csv"))
        // Standard (3 kernels) ×4, fa1 ×4, fa2 ×4, the copy probe (4), PyTorch flash (4).
        #expect(csv.launches.count == 12 + 4 + 4 + 4 + 4)
        #expect(csv.launches.prefix(3).map { String($0.kernelName.prefix(12)) } == ["void scores<", "void softmax", "void pv<__ha"])
        #expect(csv.launches[0].metrics["dram__bytes_read.sum"] == 9_767_424)
        #expect(csv.launches[0].metrics["gpu__time_duration.sum"] == 2_660_736 * 1e-9)
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
