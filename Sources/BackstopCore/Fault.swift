import Foundation

/// Deterministic fault points for crash tests: with `BACKSTOP_FAULT=NAME` in the environment, the
/// process kills itself with SIGKILL when it reaches the point of that name, exactly as a power cut or
/// `kill -9` there would. `NAME@N` stops at the Nth time the point is reached. Unset, a point costs one
/// comparison.
public enum Fault {
    private static let target: (name: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["BACKSTOP_FAULT"], !value.isEmpty else { return nil }
        let parts = value.split(separator: "@", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
    }()
    nonisolated(unsafe) private static var reached = 0

    /// Stops the process hard here if the environment names this point.
    public static func point(_ name: String) {
        guard let target, target.name == name else { return }
        reached += 1
        if reached >= target.count { kill(getpid(), SIGKILL) }
    }
}
