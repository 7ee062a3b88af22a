import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The H100 file's JSON, for tests that take fields out of it.
func h100JSON() throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Repo.hardwareModel("h100-sxm"))) as? [String: Any])
}

/// An optional group of measured hardware fields comes all or none (ModelFile.group): each field
/// has a source naming `source`; without the last one the file is refused naming it; without any
/// the file loads and `given` says the group is absent.
func expectAllOrNone(_ fields: [String], source: String, given: (HardwareModel) -> Bool) throws {
    let json = try h100JSON()
    let sources = try #require(json["sources"] as? [String: String])
    for f in fields { #expect(sources[f]?.contains(source) == true, "\(f)") }
    var partial = json
    partial.removeValue(forKey: fields.last!)
    #expect(throws: ModelError.missingField(path: "x.json", field: fields.last!)) {
        try HardwareModel(json: JSONSerialization.data(withJSONObject: partial), path: "x.json")
    }
    var none = json
    for f in fields { none.removeValue(forKey: f) }
    #expect(try !given(HardwareModel(json: JSONSerialization.data(withJSONObject: none), path: "x.json")))
}
