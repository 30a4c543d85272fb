@testable import BackstopRemote
import Foundation
import XCTest

/// Requests that block on the network must all be in flight at once, whatever the number of cores:
/// GCD's `concurrentPerform` runs one job per core, so on a two-core machine four part uploads went two
/// by two (and read-ahead GETs waited a second each for a new GCD worker).
final class BlockingThreadsTests: XCTestCase {
    /// Eight jobs that each wait until all eight have started: they finish only if all run at once. The
    /// wait is bounded (30 s) so that a regression fails instead of hanging.
    func testEveryJobRunsAtOnceWhateverTheCores() {
        let width = 8
        let arrived = NSCondition()
        nonisolated(unsafe) var count = 0
        nonisolated(unsafe) var allMet = 0
        nonisolated(unsafe) var started = 0
        let lock = NSLock()
        BlockingThreads.run(width: width) {
            let mine = lock.withLock { () -> Bool in
                guard started < width else { return false }
                started += 1
                return true
            }
            guard mine else { return false }
            arrived.lock()
            count += 1
            arrived.broadcast()
            let deadline = Date().addingTimeInterval(30)
            while count < width && arrived.wait(until: deadline) {}
            if count == width { allMet += 1 }
            arrived.unlock()
            return true
        }
        XCTAssertEqual(allMet, width, "jobs ran in turn, not at once (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
    }

    /// Each thread takes jobs until there are none left; every job runs once.
    func testEveryJobRunsOnce() {
        let done = NSLock()
        nonisolated(unsafe) var seen: [Int] = []
        nonisolated(unsafe) var next = 0
        BlockingThreads.run(width: 3) {
            let index = done.withLock { () -> Int in defer { next += 1 }; return next }
            guard index < 100 else { return false }
            done.withLock { seen.append(index) }
            return true
        }
        XCTAssertEqual(seen.sorted(), Array(0..<100))
    }
}
