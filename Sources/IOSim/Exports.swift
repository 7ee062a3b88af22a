// `import IOSim` gives the whole simulator: the counting core, the time model, the file formats
// and the checks, with the reference they share (docs/ARCHITECTURE.md, "Modules").
@_exported import AttentionReference
@_exported import IOSimChecking
@_exported import IOSimCore
@_exported import IOSimFormats
@_exported import IOSimTimeModel
