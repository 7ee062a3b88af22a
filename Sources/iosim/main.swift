import IOSimCLI

IOSimCommand.runMain()
