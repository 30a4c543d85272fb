import Foundation

/// Runs `transform` on several threads while the calling thread produces inputs and consumes
/// outputs in their original order. At most `window` items are in flight, so memory stays
/// bounded whatever the size of the stream.
///
/// Each worker makes its own context (a compressor, a decompressor) on its own thread, since those
/// are not thread-safe; inputs and outputs cross threads, so they are `Sendable`.
public enum OrderedPipeline {
    public static func run<Context, Input: Sendable, Output: Sendable>(
        workers: Int,
        window: Int,
        makeContext: @escaping @Sendable () -> Context,
        produce: () throws -> Input?,
        transform: @escaping @Sendable (Context, Input) throws -> Output,
        consume: (Output) throws -> Void
    ) throws {
        let workerCount = max(1, workers)
        let shared = Guarded(PipelineState<Input, Output>())
        for _ in 0..<workerCount {
            let thread = Thread {
                let context = makeContext()
                while let (index, input) = shared.wait(until: { $0.nextInput() }) {
                    let result: Result<Output, Error>
                    do { result = .success(try transform(context, input)) } catch { result = .failure(error) }
                    shared.withLock { $0.outputs[index] = result }
                }
                shared.withLock { $0.exited += 1 }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        defer {
            // Stop the workers and wait until every one has left `transform`.
            shared.withLock { state in
                state.closed = true
                state.inputs.removeAll()
            }
            shared.wait { $0.exited == workerCount ? () : nil }
        }

        var produced = 0
        var consumed = 0
        var exhausted = false
        while true {
            // Keep the window full.
            while !exhausted && produced - consumed < max(window, workerCount) {
                guard let input = try produce() else { exhausted = true; break }
                let index = produced
                shared.withLock { $0.inputs.append((index, input)) }
                produced += 1
            }
            if consumed == produced && exhausted { break }
            let index = consumed
            let output = try shared.wait { $0.outputs.removeValue(forKey: index) }.get()
            consumed += 1
            try consume(output)
        }
    }
}

/// What the producer, the workers and the consumer of one pipeline run share.
private struct PipelineState<Input: Sendable, Output: Sendable>: Sendable {
    var inputs: [(Int, Input)] = []
    var outputs: [Int: Result<Output, Error>] = [:]
    var closed = false
    var exited = 0

    /// The next input for a worker; `.some(nil)` once the pipeline is shut down; nil to keep waiting.
    mutating func nextInput() -> (Int, Input)?? {
        if !inputs.isEmpty { return .some(inputs.removeFirst()) }
        return closed ? .some(nil) : nil
    }
}
