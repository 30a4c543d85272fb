// swift-tools-version:6.0
import PackageDescription

// Layers, one way only: backstop -> BackstopCLI -> BackstopKit -> BackstopRemote -> BackstopStore -> BackstopCodec, BackstopAge, BackstopSQLite
// BackstopCore (errors, times, sizes) sits under the domain and the store; the C-facing targets
// (BackstopSQLite, BackstopCodec) know nothing of Backstop's domain.
let package = Package(
    name: "Backstop",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BackstopKit", targets: ["BackstopKit"]),
        .executable(name: "backstop", targets: ["backstop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian's -dev packages (see README, "System libraries").
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate",
                       providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // The read-only VFS that opens compressed snapshots in place (C, so that the same code is also a
        // loadable extension for the sqlite3 shell; see the Makefile).
        .target(name: "CBackstopVFS", dependencies: ["CSQLite", "CDeflate"]),
        // SQLite in Swift: connections, statements, errors, the backup API, VFSes, SQL text.
        .target(name: "BackstopSQLite", dependencies: ["CSQLite", "CBackstopVFS"]),
        // Compression and checksums: Backstop's gzip members on all cores, SHA-256.
        .target(name: "BackstopCodec", dependencies: ["CZlib", "CDeflate", "CCrypto"]),
        // The age file format (age-encryption.org/v1) on libcrypto: keys, headers, the chunked payload.
        .target(name: "BackstopAge", dependencies: ["CCrypto"]),
        // Vocabulary shared by the store and the domain: errors, times, durations, sizes.
        .target(name: "BackstopCore"),
        // Removes a run's temporary files when a signal ends it (async-signal-safe, so in C).
        .target(name: "CBackstopSignals"),
        // The snapshot store: durable files, locks, manifests.
        .target(name: "BackstopStore", dependencies: ["BackstopCore", "BackstopCodec", "BackstopAge", "BackstopSQLite", "CBackstopSignals"]),
        // Off-site stores on S3-compatible object storage: SigV4 on libcrypto over URLSession, the remote store.
        .target(name: "BackstopRemote", dependencies: ["BackstopCore", "BackstopCodec", "BackstopStore", "BackstopSQLite", "CCrypto"]),
        // The domain: snapshots, restore, migrations, retention, recovery, configuration. No argument parsing.
        .target(name: "BackstopKit", dependencies: ["BackstopCore", "BackstopSQLite", "BackstopCodec", "BackstopStore", "BackstopAge", "BackstopRemote", "CBackstopSignals"]),
        // The command line: one file per subcommand, output and exit codes.
        .target(name: "BackstopCLI", dependencies: [
            "BackstopKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The executable: the @main entry point only.
        .executableTarget(name: "backstop", dependencies: ["BackstopCLI", "CBackstopSignals"]),
        // Developer tool for tests, the demo and benchmarks: load generators and sample data.
        .executableTarget(name: "backstop-loadgen", dependencies: ["BackstopKit"]),

        // Shared by the test targets: a temporary folder per test, database builders, running the binary.
        .target(name: "BackstopTestSupport", dependencies: ["BackstopKit"], path: "Tests/BackstopTestSupport"),
        .testTarget(name: "BackstopKitTests", dependencies: ["BackstopKit", "BackstopTestSupport"],
                    exclude: ["Retention/testdata"]),
        .testTarget(name: "BackstopCLITests", dependencies: ["BackstopCLI", "BackstopKit", "BackstopTestSupport"]),
        // The C-facing layers on their own: connections, statements, errors, the backup API, the VFS.
        // age on its own: the format's published test vectors, and interoperability with the age CLI.
        .testTarget(name: "BackstopAgeTests", dependencies: ["BackstopAge", "BackstopCodec", "CZlib", "BackstopTestSupport"]),
        // Remote stores: SigV4 against AWS's published examples, and one store test suite run against the
        // local store and SeaweedFS on 127.0.0.1.
        .testTarget(name: "BackstopRemoteTests", dependencies: ["BackstopKit", "BackstopRemote", "BackstopTestSupport"]),
        .testTarget(name: "BackstopSQLiteTests", dependencies: ["BackstopSQLite", "BackstopCodec", "BackstopTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
