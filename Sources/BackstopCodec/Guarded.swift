import Foundation

/// State that several threads share, reachable only while its lock is held, with waiting for a
/// condition on it. This is the one place where Backstop vouches to the compiler that shared mutable
/// state is safe: every access goes through `withLock` or `wait(until:)`, under one `NSCondition`.
public final class Guarded<State>: @unchecked Sendable {
    private let condition = NSCondition()
    private var state: State

    public init(_ state: State) { self.state = state }

    /// Runs `body` with the state under the lock, then wakes every waiter.
    @discardableResult
    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return try body(&state)
    }

    /// Waits until `ready` returns a value (it runs under the lock, each time the state changes).
    public func wait<Result>(until ready: (inout State) -> Result?) -> Result {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        while true {
            if let result = ready(&state) { return result }
            condition.wait()
        }
    }
}
