import ArgumentParser
struct Sweep: ParsableCommand {
    func run() throws { throw UsageError("not yet") }
}
