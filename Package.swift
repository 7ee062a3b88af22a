// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "iosim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "iosim", targets: ["iosim"]),
        .library(name: "AttentionReference", targets: ["AttentionReference"]),
        .library(name: "IOSim", targets: ["IOSim"]),
        .library(name: "NpyIO", targets: ["NpyIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // cblas.h and lapacke.h from Debian's OpenBLAS and LAPACKE packages.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev", "pkg-config"])]
        ),
        .target(name: "NpyIO"),
        .target(
            name: "AttentionReference",
            dependencies: ["COpenBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),
        // The simulator in four modules whose dependencies point one way (docs/ARCHITECTURE.md):
        // file formats know nothing of attention; the counting core knows no hardware; the time
        // model reads hardware files and prices the core's counts; the checks run the core's
        // machine against the reference. `IOSim` is the analysis on top and re-exports them all.
        .target(name: "IOSimFormats"),
        .target(
            name: "IOSimCore",
            dependencies: ["AttentionReference", .product(name: "RealModule", package: "swift-numerics")]
        ),
        .target(name: "IOSimTimeModel", dependencies: ["IOSimCore", "IOSimFormats"]),
        .target(name: "IOSimChecking", dependencies: ["IOSimCore", "AttentionReference", "NpyIO"]),
        .target(
            name: "IOSim",
            dependencies: [
                "IOSimCore", "IOSimTimeModel", "IOSimFormats", "IOSimChecking", "AttentionReference",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        .target(
            name: "IOSimCLI",
            dependencies: [
                "IOSim", "AttentionReference", "NpyIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "iosim", dependencies: ["IOSimCLI"]),
        // Shared by the test targets only (no product): the seeded generator, the repository's
        // paths and the iosim binary, temporary folders, errors in ulps, and data-file readers
        // that throw.
        .target(name: "TestSupport", dependencies: ["AttentionReference"], path: "Tests/TestSupport"),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport", "AttentionReference"]),
        .testTarget(
            name: "AttentionReferenceTests",
            dependencies: [
                "AttentionReference", "NpyIO", "TestSupport",
                .product(name: "RealModule", package: "swift-numerics"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "NpyIOTests", dependencies: ["NpyIO", "TestSupport"], exclude: ["Corpus"]),
        .testTarget(
            name: "IOSimTests",
            dependencies: [
                "IOSim", "AttentionReference", "TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "IOSimCLITests", dependencies: ["IOSimCLI", "NpyIO", "AttentionReference", "IOSim", "TestSupport"],
            exclude: ["Snapshots"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
