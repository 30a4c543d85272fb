import Foundation

/// Deterministic fault points for tests: with `BACKSTOP_FAULT=NAME` in the environment, the process kills
/// itself with SIGKILL when it reaches the point of that name, exactly as a power cut or `kill -9` there
/// would. `NAME@N` stops at the Nth time the point is reached. `NAME:stop` stops the process (SIGSTOP)
/// there instead, so a test can look at the world at that exact step and then let it go on (SIGCONT).
/// Unset, a point costs one comparison.
public enum Fault {
    private struct Target { var name: String; var count: Int; var stop: Bool }

    private static let target: Target? = {
        guard let value = ProcessInfo.processInfo.environment["BACKSTOP_FAULT"], !value.isEmpty else { return nil }
        var spec = Substring(value)
        var stop = false
        if spec.hasSuffix(":stop") { stop = true; spec = spec.dropLast(5) }
        let parts = spec.split(separator: "@", maxSplits: 1)
        return Target(name: String(parts[0]), count: parts.count > 1 ? Int(parts[1]) ?? 1 : 1, stop: stop)
    }()
    nonisolated(unsafe) private static var reached = 0

    /// Stops the process hard here if the environment names this point.
    public static func point(_ name: String) {
        guard let target, target.name == name else { return }
        reached += 1
        guard reached == target.count else { return }
        kill(getpid(), target.stop ? SIGSTOP : SIGKILL)
    }
}
