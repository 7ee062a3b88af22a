// The CLI tests run the built `iosim` through TestSupport's `Repo` (its root, binary lookup,
// `run`, `execute` and `tempDir`); this target has no helpers of its own.
@_exported import TestSupport
