import ArgumentParser
struct Verify: ParsableCommand {
    func run() throws { throw UsageError("not yet") }
}
