import ArgumentParser
struct Simulate: ParsableCommand {
    func run() throws { throw UsageError("not yet") }
}
