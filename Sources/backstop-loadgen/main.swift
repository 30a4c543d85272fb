import BackstopKit
import Foundation

// backstop-loadgen: load and sample data for Backstop's tests, demo and benchmarks. Not installed.

let usage = """
    usage: backstop-loadgen COMMAND ARGUMENTS

    Sample data and load for Backstop's tests, demo and benchmarks (not installed).

      writer DB SECONDS [RATE]        commit one row at a time (RATE per second, 0 = flat out)
      generate DB BYTES               a realistic database (text, JSON, indexes) of about BYTES (e.g. 1GiB)
      devchain DB [SCALE]             the devchain example database at version 0027
      hold DB open|read|write         hold a connection, a read or a write transaction until stdin closes
      readers DB SECONDS INTERVAL TIMEOUT
                                      read every INTERVAL seconds, each with a busy timeout; count failures
      crash-mid-write DB              die with SIGKILL in the middle of a transaction (leaves a hot journal)
      read-pages DB                   read every page through SQLite's backup API once, keeping none (benchmark)
      compress FILE LEVEL             compress FILE with Backstop's codec on all cores, keeping nothing (benchmark)
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("backstop-loadgen: " + message + "\n").utf8))
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else { fail(usage) }
if ["-h", "--help", "help"].contains(command) {
    print(usage)
    exit(0)
}

do {
    switch command {
    case "writer":
        guard arguments.count >= 3, let seconds = Double(arguments[2]) else { fail("usage: writer DB SECONDS [RATE]") }
        let rate = arguments.count > 3 ? Double(arguments[3]) ?? 0 : 0
        try LoadGenerator.write(database: arguments[1], seconds: seconds, rate: rate)
    case "generate":
        guard arguments.count >= 3 else { fail("usage: generate DB BYTES") }
        try LoadGenerator.generate(database: arguments[1], bytes: try ByteCount.parse(arguments[2]))
    case "devchain":
        guard arguments.count >= 2 else { fail("usage: devchain DB [SCALE]") }
        try DevchainSample.create(at: arguments[1], scale: arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1)
    case "hold":
        guard arguments.count == 3, let mode = Holder.Mode(rawValue: arguments[2]) else { fail("usage: hold DB open|read|write") }
        try Holder.hold(arguments[1], mode: mode)
    case "readers":
        guard arguments.count == 5, let seconds = Double(arguments[2]), let interval = Double(arguments[3]),
              let timeout = Double(arguments[4]) else { fail("usage: readers DB SECONDS INTERVAL TIMEOUT") }
        try Holder.readers(arguments[1], seconds: seconds, interval: interval, timeout: timeout)
    case "read-pages":
        guard arguments.count == 2 else { fail("usage: read-pages DB") }
        let db = try Database.openForReading(arguments[1])
        try db.execute("BEGIN")
        _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
        print(try ImageStream.readEveryPage(from: db))
    case "compress":
        guard arguments.count == 3, let level = Int(arguments[2]) else { fail("usage: compress FILE LEVEL") }
        let fd = open(arguments[1], O_RDONLY)
        guard fd >= 0 else { fail("cannot open \(arguments[1])") }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        let digest = try ImageCodec.compress(total: Int64(info.st_size), level: level, read: { buffer, offset in
            pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        }, write: { _ in })
        print(digest.compressedBytes)
    case "crash-mid-write":
        guard arguments.count == 2 else { fail("usage: crash-mid-write DB") }
        try Holder.crashMidWrite(arguments[1])
    default:
        fail("unknown command \(command)\n\(usage)")
    }
} catch {
    FileHandle.standardError.write(Data(("backstop-loadgen: \(error)\n").utf8))
    exit(1)
}
