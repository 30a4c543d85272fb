import BackstopKit
import Foundation
import XCTest

/// A program started by a test, with its output in files (so it can never block on a full pipe), which the
/// test can wait for to stop at a fault point (`BACKSTOP_FAULT=NAME:stop`), signal, and reap.
public final class Child {
    public let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String
    private var reaped: Int32?

    init(_ executable: String, _ arguments: [String], directory: String, environment: [String: String], stdinPath: String?) throws {
        let id = UUID().uuidString
        stdoutPath = (directory as NSString).appendingPathComponent(".child-\(id).out")
        stderrPath = (directory as NSString).appendingPathComponent(".child-\(id).err")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else is inherited: a pipe of another child's (a holder's standard input) left open in
        // this one would keep that child from ever seeing its end.
        Child.closeOnExecEverything()
        var env = ProcessInfo.processInfo.environment
        for key in ["BACKSTOP_DB", "BACKSTOP_STORE", "NO_COLOR", "BACKSTOP_FAULT"] { env.removeValue(forKey: key) }
        env.merge(environment) { $1 }
        // env -C runs the program in the test's folder (and execs it: the pid is the program's).
        let argv = (["/usr/bin/env", "-C", directory, executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
        guard code == 0 else { throw BackstopError.io(operation: "start", path: executable, errno: code) }
        self.pid = pid
    }

    /// Marks every descriptor of the test process above standard error close-on-exec.
    static func closeOnExecEverything() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Waits until the process stops (a `:stop` fault point) or exits; true when it stopped.
    @discardableResult
    public func waitUntilStopped(timeout: TimeInterval = 120) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WUNTRACED | WNOHANG)
            if result == pid {
                if (status & 0xff) == 0x7f { return true }   // WIFSTOPPED
                reaped = status
                return false
            }
            usleep(10_000)
        }
        return false
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }
    public func resume() { kill(pid, SIGCONT) }

    /// Waits for the process to end; returns (exit status, terminating signal).
    @discardableResult
    public func wait() -> (status: Int32, signal: Int32) {
        var status: Int32 = reaped ?? 0
        if reaped == nil {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = status
        }
        let signal = status & 0x7f
        return (signal == 0 ? (status >> 8) & 0xff : -1, signal)
    }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    deinit {
        if reaped == nil {
            kill(pid, SIGKILL)
            kill(pid, SIGCONT)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        unlink(stdoutPath)
        unlink(stderrPath)
    }
}

/// A held connection (`backstop-loadgen hold`): an idle connection, a read or a write transaction.
public final class HeldConnection {
    private let process: Process
    private let input: Pipe

    init(process: Process, input: Pipe) {
        self.process = process
        self.input = input
    }

    public var pid: Int32 { process.processIdentifier }

    /// Closes the connection and waits for the holder to exit.
    public func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}

extension BackstopTestCase {
    /// Starts `backstop` with its output in files (see ``Child``).
    public func spawnBackstop(_ arguments: [String], environment: [String: String] = [:]) throws -> Child {
        try Child(BackstopTestCase.backstopPath, arguments, directory: tmp, environment: environment, stdinPath: nil)
    }

    /// Starts `backstop` and waits until it stops at the fault point `point` (`BACKSTOP_FAULT=point:stop`).
    public func backstopStopped(at point: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Child {
        let child = try spawnBackstop(arguments, environment: ["BACKSTOP_FAULT": "\(point):stop"])
        XCTAssertTrue(child.waitUntilStopped(), "backstop \(arguments.joined(separator: " ")) never reached \(point): \(child.stderr)",
                      file: file, line: line)
        return child
    }

    /// Runs `backstop` with `BACKSTOP_FAULT=point` and checks that it died by SIGKILL exactly there.
    public func backstopKilled(at point: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let child = try spawnBackstop(arguments, environment: ["BACKSTOP_FAULT": point])
        let (status, signal) = child.wait()
        XCTAssertEqual(signal, SIGKILL, "backstop \(arguments.joined(separator: " ")) did not die at \(point) (status \(status)): \(child.stderr)",
                       file: file, line: line)
    }

    /// Holds `database` open (`open`), in a read transaction (`read`) or a write transaction (`write`) from
    /// another process, until released.
    public func hold(_ database: String, _ mode: String) throws -> HeldConnection {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BackstopTestCase.loadgenPath)
        process.arguments = ["hold", database, mode]
        process.currentDirectoryURL = URL(fileURLWithPath: tmp)
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let ready = String(decoding: output.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
        XCTAssertEqual(ready, "ready\n", "the holder did not get its \(mode) hold on \(database)")
        return HeldConnection(process: process, input: input)
    }
}

extension FileHandle {
    /// Reads until a newline (or the end), one byte at a time: for a child's "ready" line.
    func availableDataUntilNewline() -> Data {
        var data = Data()
        while true {
            let byte = readData(ofLength: 1)
            if byte.isEmpty { break }
            data.append(byte)
            if byte.first == UInt8(ascii: "\n") { break }
        }
        return data
    }
}
