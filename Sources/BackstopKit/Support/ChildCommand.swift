import BackstopCodec
import BackstopCore
import CBackstopSignals
import Foundation

/// How a command run by ``ChildCommand`` ended.
public struct CommandOutcome: Sendable {
    /// The exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal that ended it, when one did.
    public var signal: Int32?
    /// True when it ran past its time limit and was stopped.
    public var timedOut: Bool
    /// A signal Backstop itself received while the command ran (passed on to it, or sent by a terminal
    /// to both), or nil.
    public var interruptedBy: Int32?
    /// Its output, when captured.
    public var stdout: Data
    public var stderr: Data

    public var succeeded: Bool { exitStatus == 0 && !timedOut && interruptedBy == nil }
}

/// Runs a command (an application's migrator) as a child process: standard input, output and error are
/// the terminal's (or output is captured), the environment is Backstop's plus what is given, and a time
/// limit stops it with SIGTERM (then SIGKILL after a grace period). It runs in a process group of its own:
/// a signal sent to Backstop while it runs (SIGINT, SIGTERM, SIGHUP, SIGQUIT) is passed on to that group,
/// and Backstop itself keeps running so that it can check the database and restore it; when the command
/// ends, anything it left running in its group is killed.
public enum ChildCommand {
    public static let gracePeriod: TimeInterval = 10

    public static func run(_ arguments: [String], environment: [String: String], timeout: TimeInterval? = nil,
                           capture: Bool = false) throws -> CommandOutcome {
        guard let program = arguments.first, !program.isEmpty else { throw BackstopError.invalidInput("no command to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        if capture {
            guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw BackstopError.posix("create a pipe for", program) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        // The command leads a process group of its own, so that a time limit or a signal reaches everything
        // it started, and nothing it started outlives it; on a terminal, that group is in the foreground
        // (it gets the terminal's Ctrl-C and may prompt), as a shell would arrange.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let code = posix_spawnp(&pid, program, &actions, &attributes, argv, envp)
        if capture { close(outPipe[1]); close(errPipe[1]) }
        guard code == 0 else {
            if capture { close(outPipe[0]); close(errPipe[0]) }
            throw BackstopError.io(operation: "run", path: program, errno: code)
        }
        let terminal = isatty(STDIN_FILENO) == 1 && tcgetpgrp(STDIN_FILENO) == getpgrp()
        if terminal { tcsetpgrp(STDIN_FILENO, pid) }
        bk_forward_begin(pid)
        let captured = Guarded<(out: Data, err: Data)>((Data(), Data()))
        let readers = DispatchGroup()
        if capture {
            for (fd, isOut) in [(outPipe[0], true), (errPipe[0], false)] {
                readers.enter()
                Thread {
                    var collected = Data()
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = read(fd, &buffer, buffer.count)
                        if n > 0 { collected.append(contentsOf: buffer[0..<n]) } else if n < 0 && errno == EINTR { continue } else { break }
                    }
                    close(fd)
                    captured.withLock { if isOut { $0.out = collected } else { $0.err = collected } }
                    readers.leave()
                }.start()
            }
        }
        let started = Date()
        var status: Int32 = 0
        var timedOut = false
        var killedAt: Date?
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { break }
            if let timeout, !timedOut, Date().timeIntervalSince(started) > timeout {
                timedOut = true
                kill(-pid, SIGTERM)
                killedAt = Date()
            }
            if let killedAt, Date().timeIntervalSince(killedAt) > gracePeriod { kill(-pid, SIGKILL) }
            usleep(20_000)
        }
        // Whatever the command left running in its group would go on writing after the checks (and after
        // a restore): it is stopped.
        kill(-pid, SIGKILL)
        let interrupted = bk_forward_end()
        if terminal {
            // Take the terminal back (a background group asking for it gets SIGTTOU unless it is ignored).
            let previous = signal(SIGTTOU, SIG_IGN)
            tcsetpgrp(STDIN_FILENO, getpgrp())
            signal(SIGTTOU, previous)
        }
        readers.wait()
        let (stdout, stderr) = captured.withLock { ($0.out, $0.err) }
        let signaled = status & 0x7f
        return CommandOutcome(exitStatus: signaled == 0 ? (status >> 8) & 0xff : nil, signal: signaled == 0 ? nil : signaled,
                              timedOut: timedOut, interruptedBy: interrupted == 0 ? nil : interrupted, stdout: stdout, stderr: stderr)
    }
}
