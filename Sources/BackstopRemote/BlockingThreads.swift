import Foundation

/// Threads for work that blocks on the network. GCD sizes its pool to the cores and adds a worker only
/// about a second after the others block, so requests run on it (or with `concurrentPerform`, at most
/// one per core) wait in turn: on two cores, two 8 MiB ranged GETs at a time and a second's pause
/// before each next one. Each job here gets a thread of its own.
enum BlockingThreads {
    private final class Job: @unchecked Sendable {
        var body: (() -> Bool)?
        init(_ body: @escaping () -> Bool) { self.body = body }
    }

    /// Runs `body` on `width` threads at once, each calling it until it returns false; returns when all
    /// have finished.
    static func run(width: Int, _ body: () -> Bool) {
        withoutActuallyEscaping(body) { body in
            let job = Job(body)
            let group = DispatchGroup()
            for _ in 0..<max(1, width) {
                group.enter()
                detach {
                    while job.body!() {}
                    group.leave()
                }
            }
            group.wait()
            // The threads are done with it; the closure must not outlive this call.
            job.body = nil
        }
    }

    /// Runs `body` on a thread of its own, now.
    static func detach(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 1 << 20
        thread.start()
    }
}
