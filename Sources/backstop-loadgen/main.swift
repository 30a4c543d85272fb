import BackstopKit
import Foundation

// backstop-loadgen: load and sample data for Backstop's tests, demo and benchmarks. Not installed.
//
//   backstop-loadgen writer   DB SECONDS [RATE]   commit one row at a time (RATE per second, 0 = flat out)
//   backstop-loadgen generate DB BYTES            a realistic database (text, JSON, indexes) of about BYTES
//   backstop-loadgen devchain DB                  the devchain example database at version 0027

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("backstop-loadgen: " + message + "\n").utf8))
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    fail("usage: backstop-loadgen (writer DB SECONDS [RATE] | generate DB BYTES | devchain DB)")
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
    default:
        fail("unknown command \(command)")
    }
} catch {
    fail("\(error)")
}
