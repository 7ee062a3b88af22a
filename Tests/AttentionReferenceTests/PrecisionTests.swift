import AttentionReference
import PropertyBased
import TestSupport
import Testing

@Suite struct PrecisionRounding {
    #if arch(x86_64) || arch(arm64)
        @Test func fp16RoundingMatchesHardwareConversion() async {
            await propertyCheck(count: 2000, input: Gen.double(in: -70000...70000)) { x in
                #expect(Precision.fp16.round(x) == Double(Float16(x)))
            }
            await propertyCheck(count: 2000, input: Gen.double(in: -1e-4...1e-4)) { x in
                #expect(Precision.fp16.round(x) == Double(Float16(x)), "subnormal range")
            }
        }
    #endif

    @Test func bf16RoundingIsNearestEvenOnTheTop16BitsOfFp32() async {
        // bf16 is fp32 with 16 mantissa bits dropped: round the fp32 bit pattern to nearest, ties to even.
        await propertyCheck(count: 3000, input: Gen.float(in: -1e30...1e30)) { f in
            let bits = f.bitPattern
            let lsb = (bits >> 16) & 1
            let rounded = (bits &+ 0x7FFF &+ lsb) & 0xFFFF_0000
            #expect(Precision.bf16.round(Double(f)) == Double(Float(bitPattern: rounded)))
        }
    }

    @Test func fp8E4M3HasItsDocumentedRangeAndSaturates() {
        let p = Precision.fp8e4m3
        #expect(p.round(448) == 448)
        #expect(p.round(464) == 448)  // tie between 448 and 480: even mantissa wins
        #expect(p.round(465) == 448)  // saturates (satfinite)
        #expect(p.round(1e9) == 448 && p.round(-1e9) == -448)
        #expect(p.round(465, saturating: false).isNaN)
        #expect(p.round(.infinity) == 448)
        #expect(p.round(0x1p-9) == 0x1p-9)  // smallest subnormal
        #expect(p.round(0x1p-10) == 0)  // tie to even (zero)
        #expect(p.round(0x1.8p-10) == 0x1p-9)
        #expect(p.round(1.0625) == 1)  // 1 + 1/16 is a tie between 1 and 1.125
        #expect(p.round(1.1) == 1.125)
    }

    @Test func fp8E5M2OverflowsToInfinity() {
        let p = Precision.fp8e5m2
        #expect(p.round(57344) == 57344)
        #expect(p.round(61440) == .infinity)  // the tie above the max rounds to infinity
        #expect(p.round(-1e6) == -.infinity)
        #expect(p.round(0x1p-16) == 0x1p-16)
        #expect(p.round(1.125) == 1)  // tie between 1 and 1.25 → even
    }

    @Test(arguments: Precision.allCases)
    func roundingKeepsNaNSignedZeroAndIsIdempotent(p: Precision) async {
        #expect(p.round(.nan).isNaN)
        #expect(p.round(-0.0).sign == .minus && p.round(-0.0) == 0)
        await propertyCheck(count: 500, input: Gen.double(in: -400...400)) { x in
            let r = p.round(x)
            #expect(p.round(r) == r)
            #expect(ulpError(r, reference: x, in: p) <= 0.5, "\(x) → \(r)")
        }
    }
}
