import Foundation

/// Runs `transform` on several threads while the calling thread submits inputs and consumes outputs
/// in their original order. At most `window` items are in flight, so memory stays bounded whatever
/// the size of the stream.
///
/// Each worker makes its own context (a compressor, a decompressor) on its own thread, since those
/// are not thread-safe; inputs and outputs cross threads, so they are `Sendable`.
public final class OrderedPipeline<Context, Input: Sendable, Output: Sendable> {
    private let shared = Guarded(PipelineState<Input, Output>())
    private let workerCount: Int
    private let window: Int
    private var submitted = 0
    private var consumed = 0
    private var stopped = false

    public init(workers: Int, window: Int, makeContext: @escaping @Sendable () -> Context,
                transform: @escaping @Sendable (Context, Input) throws -> Output) {
        workerCount = max(1, workers)
        self.window = max(window, workerCount)
        let shared = self.shared
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
    }

    deinit { stop() }

    /// Queues `input`, first consuming (in order) outputs while the window is full.
    public func submit(_ input: Input, consume: (Output) throws -> Void) throws {
        while submitted - consumed >= window { try consumeNext(consume) }
        let index = submitted
        shared.withLock { $0.inputs.append((index, input)) }
        submitted += 1
    }

    /// Consumes every remaining output in order, then stops the workers.
    public func finish(consume: (Output) throws -> Void) throws {
        defer { stop() }
        while consumed < submitted { try consumeNext(consume) }
    }

    private func consumeNext(_ consume: (Output) throws -> Void) throws {
        let index = consumed
        let output = try shared.wait { $0.outputs.removeValue(forKey: index) }.get()
        consumed += 1
        try consume(output)
    }

    /// Stops the workers and waits until every one has left `transform`.
    private func stop() {
        guard !stopped else { return }
        stopped = true
        shared.withLock { state in
            state.closed = true
            state.inputs.removeAll()
        }
        let count = workerCount
        shared.wait { $0.exited == count ? () : nil }
    }

    /// Pulls inputs from `produce` until it returns nil, consuming outputs in order.
    public static func run(workers: Int, window: Int, makeContext: @escaping @Sendable () -> Context,
                           produce: () throws -> Input?, transform: @escaping @Sendable (Context, Input) throws -> Output,
                           consume: (Output) throws -> Void) throws {
        let pipeline = OrderedPipeline(workers: workers, window: window, makeContext: makeContext, transform: transform)
        while let input = try produce() { try pipeline.submit(input, consume: consume) }
        try pipeline.finish(consume: consume)
    }
}

/// What the producer, the workers and the consumer of one pipeline share.
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
