import BackstopCore
import BackstopSQLite
import Foundation
import Synchronization

/// Random access to an object through ranged GETs: fixed-size blocks, a few kept in memory, and the next
/// ones fetched ahead on other threads while reads are sequential (a restore, a checksum), so a stream
/// runs at the network's speed with bounded memory. Every GET carries `If-Match` with the ETag the object
/// was listed with: an object replaced meanwhile fails, never mixes.
final class RemoteReader: @unchecked Sendable {
    let client: S3Client
    let key: String
    let size: Int64
    let etag: String
    let blockSize: Int64
    let readahead: Int
    let capacity: Int
    private let onGone: () -> Error

    private enum Slot {
        case loading
        case ready(Data)
        case failed(Error)
    }

    private let state = Mutex<(slots: [Int64: Slot], order: [Int64], last: Int64)>(([:], [], -2))
    private let changed = NSCondition()

    init(client: S3Client, key: String, size: Int64, etag: String, blockSize: Int64 = 4 << 20, readahead: Int = 4,
         onGone: @escaping () -> Error) {
        self.client = client; self.key = key; self.size = size; self.etag = etag
        self.blockSize = blockSize; self.readahead = readahead; self.capacity = readahead + 3
        self.onGone = onGone
    }

    var bytes: SnapshotBytes {
        SnapshotBytes(size: size, read: { [self] buffer, offset in try read(buffer, at: offset) })
    }

    func read(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0, offset + Int64(buffer.count) <= size else {
            throw BackstopError.failed("read past the end of \(client.describe(key))")
        }
        var done = 0
        while done < buffer.count {
            let position = offset + Int64(done)
            let index = position / blockSize
            let block = try self.block(index)
            let start = Int(position - index * blockSize)
            let n = min(buffer.count - done, block.count - start)
            guard n > 0 else { throw BackstopError.failed("\(client.describe(key)) is shorter than listed") }
            block.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + n])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<start + n]))
            }
            done += n
        }
    }

    private var blockCount: Int64 { (size + blockSize - 1) / blockSize }

    private func block(_ index: Int64) throws -> Data {
        // Sequential reads fetch the next blocks ahead.
        let sequential = state.withLock { s -> Bool in
            let sequential = index == s.last || index == s.last + 1 || index == 0
            s.last = index
            return sequential
        }
        if sequential {
            for ahead in 1...max(readahead, 1) where index + Int64(ahead) < blockCount { start(index + Int64(ahead)) }
        }
        start(index)
        changed.lock()
        defer { changed.unlock() }
        while true {
            let slot = state.withLock { $0.slots[index] }
            switch slot {
            case .ready(let data)?: return data
            case .failed(let error)?:
                state.withLock { s in s.slots[index] = nil; s.order.removeAll { $0 == index } }
                throw error
            case .loading?: changed.wait()
            case nil:
                changed.unlock()
                start(index)
                changed.lock()
            }
        }
    }

    /// Starts fetching block `index` unless it is there or on its way; evicts the oldest blocks.
    private func start(_ index: Int64) {
        let begin = state.withLock { s -> Bool in
            if s.slots[index] != nil {
                s.order.removeAll { $0 == index }
                s.order.append(index)
                return false
            }
            s.slots[index] = .loading
            s.order.append(index)
            while s.order.count > capacity, let oldest = s.order.first(where: { if case .loading? = s.slots[$0] { return false } else { return true } }) {
                s.order.removeAll { $0 == oldest }
                s.slots[oldest] = nil
            }
            return true
        }
        guard begin else { return }
        BlockingThreads.detach { [self] in
            let lower = index * blockSize
            let range = lower..<min(lower + blockSize, size)
            let slot: Slot
            do {
                if let data = try client.get(key, range: range, ifMatch: etag.isEmpty ? nil : etag) {
                    slot = .ready(data)
                } else {
                    slot = .failed(onGone())
                }
            } catch BackstopError.remote(_, 412?, _, _) {
                slot = .failed(onGone())
            } catch {
                slot = .failed(error)
            }
            changed.lock()
            state.withLock { s in if s.slots[index] != nil { s.slots[index] = slot } }
            changed.broadcast()
            changed.unlock()
        }
    }
}
