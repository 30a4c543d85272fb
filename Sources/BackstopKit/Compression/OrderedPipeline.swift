import Foundation

/// Runs `transform` on several threads while the calling thread produces inputs and consumes
/// outputs in their original order. At most `window` items are in flight, so memory stays
/// bounded whatever the size of the stream.
///
/// Each worker gets its own `context` (a compressor, a decompressor) since those are not thread-safe.
public enum OrderedPipeline {
    public static func run<Context, Input, Output>(
        workers: Int,
        window: Int,
        makeContext: () -> Context,
        produce: () throws -> Input?,
        transform: @escaping (Context, Input) throws -> Output,
        consume: (Output) throws -> Void
    ) throws {
        let workerCount = max(1, workers)
        let state = PipelineState<Input, Output>()
        let contexts = (0..<workerCount).map { _ in makeContext() }
        var threads: [Thread] = []
        for context in contexts {
            let thread = Thread {
                while let (index, input) = state.takeInput() {
                    let result: Result<Output, Error>
                    do { result = .success(try transform(context, input)) } catch { result = .failure(error) }
                    state.putOutput(index, result)
                }
                state.workerExited()
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
        defer { state.shutdown(workers: workerCount) }

        var produced = 0
        var consumed = 0
        var exhausted = false
        while true {
            // Keep the window full.
            while !exhausted && produced - consumed < max(window, workerCount) {
                guard let input = try produce() else { exhausted = true; break }
                state.putInput(produced, input)
                produced += 1
            }
            if consumed == produced && exhausted { break }
            let output = try state.takeOutput(consumed).get()
            consumed += 1
            try consume(output)
        }
    }
}

/// Shared state of one pipeline run, guarded by one condition variable.
private final class PipelineState<Input, Output>: @unchecked Sendable {
    private let condition = NSCondition()
    private var inputs: [(Int, Input)] = []
    private var outputs: [Int: Result<Output, Error>] = [:]
    private var closed = false
    private var exited = 0

    func putInput(_ index: Int, _ input: Input) {
        condition.lock()
        inputs.append((index, input))
        condition.broadcast()
        condition.unlock()
    }

    /// The next input for a worker, or nil once the pipeline is shut down.
    func takeInput() -> (Int, Input)? {
        condition.lock()
        defer { condition.unlock() }
        while inputs.isEmpty && !closed { condition.wait() }
        if inputs.isEmpty { return nil }
        return inputs.removeFirst()
    }

    func putOutput(_ index: Int, _ output: Result<Output, Error>) {
        condition.lock()
        outputs[index] = output
        condition.broadcast()
        condition.unlock()
    }

    func takeOutput(_ index: Int) -> Result<Output, Error> {
        condition.lock()
        defer { condition.unlock() }
        while outputs[index] == nil { condition.wait() }
        return outputs.removeValue(forKey: index)!
    }

    func workerExited() {
        condition.lock()
        exited += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the workers and waits until every one has left `transform`.
    func shutdown(workers: Int) {
        condition.lock()
        closed = true
        inputs.removeAll()
        condition.broadcast()
        while exited < workers { condition.wait() }
        condition.unlock()
    }
}
