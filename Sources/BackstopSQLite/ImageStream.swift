import CBackstopVFS
import CSQLite
import Foundation
import Synchronization

/// What streaming a database's image produced.
public struct StreamedImage: Sendable, Equatable {
    public var pageSize: Int
    public var pageCount: Int
    public var bytes: Int64 { Int64(pageSize) * Int64(pageCount) }
}

/// Why an image could not be streamed in page order (SQLite wrote pages out of order beyond what
/// can be held, or read back a page already passed on). The caller may fall back to a copy on disk.
public struct ImageStreamError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { "the image could not be streamed in page order: \(reason)" }
}

/// Streams the image of a database, as SQLite's online backup API copies it, to a consumer in page
/// order, with no file in between.
///
/// The backup API rewrites page 1 at the very end of a copy (its header records the copy's schema
/// cookie and change counter), but a stream must start with page 1 and every checksum runs in order.
/// So the copy runs twice inside the caller's one read transaction (both copies see the same committed
/// state): the first only learns the final page 1; the second streams every page, with page 1 taken
/// from the first, and checks that SQLite writes exactly that page 1 at its end.
///
/// Related SQLite documentation: <https://www.sqlite.org/backup.html>
public enum ImageStream {
    /// Pages copied per backup step (progress granularity).
    public static let pagesPerStep: Int32 = 4096

    /// Streams `source`'s image to `consumer`. The caller holds a read transaction on `source`, so both
    /// passes copy the same state. `progress` gets (pages done, pages in all) of the streaming pass.
    public static func stream(from source: Database, busyDeadline: Date,
                              progress: ((Int64, Int64) -> Void)? = nil,
                              consumer: (UnsafeRawBufferPointer) throws -> Void) throws -> StreamedImage {
        // Pass 1: learn the final page 1.
        let capture = PageSink(mode: .capturePage1)
        try copy(source, into: capture, busyDeadline: busyDeadline, progress: nil)
        guard let page1 = capture.finalPage1, !page1.isEmpty else {
            throw ImageStreamError(reason: "the copy wrote no page 1")
        }
        // Pass 2: stream every page in order.
        let stream = PageSink(mode: .stream(page1: page1))
        try withoutActuallyEscaping(consumer) { consumer in
            stream.consumer = consumer
            defer { stream.consumer = nil }
            try copy(source, into: stream, busyDeadline: busyDeadline, progress: progress)
            try stream.finish()
        }
        return StreamedImage(pageSize: page1.count, pageCount: Int(stream.emitted / Int64(page1.count)))
    }

    /// Reads every page of `source` through the backup API once, keeping none: what reading the image
    /// costs at least (the benchmark's physical limit). Returns the image's size.
    public static func readEveryPage(from source: Database) throws -> Int64 {
        let sink = PageSink(mode: .capturePage1)
        try copy(source, into: sink, busyDeadline: Date().addingTimeInterval(30), progress: nil)
        return Int64(sink.finalPage1?.count ?? 0) * (try source.int("PRAGMA page_count"))
    }

    private static func copy(_ source: Database, into sink: PageSink, busyDeadline: Date,
                             progress: ((Int64, Int64) -> Void)?) throws {
        let destination = try sink.open()
        try destination.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2048")
        let backup = try Backup(from: source, to: destination)
        do {
            while try !backup.step(pages: pagesPerStep, busyDeadline: busyDeadline) {
                if let failure = sink.failure { throw failure }
                progress?(Int64(backup.pageCount - backup.remaining), Int64(backup.pageCount))
            }
            try backup.finish()
        } catch {
            throw sink.failure ?? error
        }
        if let failure = sink.failure { throw failure }
        progress?(Int64(backup.pageCount), Int64(backup.pageCount))
    }
}

/// The main file of a destination database opened through the `backstop-sink` VFS.
final class PageSink: @unchecked Sendable {
    enum Mode {
        /// Remember the last page 1 written; drop every other page.
        case capturePage1
        /// Pass pages on in order, starting with this page 1.
        case stream(page1: [UInt8])
    }

    /// Pages written ahead of the next one to pass on are held up to this many bytes.
    static let maxPendingBytes = 64 << 20
    private static let counter = Atomic<Int>(0)

    let mode: Mode
    var consumer: ((UnsafeRawBufferPointer) throws -> Void)?
    private(set) var finalPage1: [UInt8]?
    private(set) var failure: Error?
    /// Bytes passed on to the consumer so far (stream mode).
    private(set) var emitted: Int64 = 0
    private var pending: [Int64: [UInt8]] = [:]
    private var pendingBytes = 0
    /// The file's size as SQLite sees it: the end of the furthest write, or the last truncation.
    private var size: Int64 = 0

    init(mode: Mode) { self.mode = mode }

    /// Opens a connection whose main file is this sink.
    func open() throws -> Database {
        guard bk_sink_vfs_register() == SQLITE_OK else {
            throw SQLiteError(code: .SQLITE_ERROR, message: "cannot register the streaming VFS")
        }
        let name = "bk-sink-\(getpid())-\(PageSink.counter.wrappingAdd(1, ordering: .relaxed).newValue)"
        var sink = bk_sink()
        sink.ctx = Unmanaged.passUnretained(self).toOpaque()
        sink.write = { ctx, data, count, offset in
            let sink = Unmanaged<PageSink>.fromOpaque(ctx!).takeUnretainedValue()
            return sink.write(UnsafeRawBufferPointer(start: data, count: Int(count)), at: offset) ? 0 : -1
        }
        sink.read = { ctx, buffer, count, offset in
            let sink = Unmanaged<PageSink>.fromOpaque(ctx!).takeUnretainedValue()
            return sink.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(count)), at: offset)
        }
        sink.truncate = { ctx, size in
            let sink = Unmanaged<PageSink>.fromOpaque(ctx!).takeUnretainedValue()
            sink.size = size
            return 0
        }
        sink.size = { ctx in Unmanaged<PageSink>.fromOpaque(ctx!).takeUnretainedValue().size }
        let code = name.withCString { bk_sink_register($0, &sink) }
        guard code == SQLITE_OK else { throw SQLiteError(code: ResultCode(rawValue: code), message: "cannot register the streaming sink") }
        do {
            return try Database(path: name, mode: .create, vfs: BK_SINK_VFS_NAME)
        } catch {
            bk_sink_unregister(name)
            throw error
        }
    }

    private func fail(_ reason: String) -> Bool {
        if failure == nil { failure = ImageStreamError(reason: reason) }
        return false
    }

    private func write(_ data: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
        size = max(size, offset + Int64(data.count))
        switch mode {
        case .capturePage1:
            if offset == 0 { finalPage1 = Array(data) }
            return true
        case .stream(let page1):
            if offset == 0 {
                guard data.elementsEqual(page1) else {
                    return fail("page 1 differed between the two copies of one read transaction")
                }
                finalPage1 = page1
                return true
            }
            do {
                if emitted == 0 { try pass(page1) }
                if offset == emitted {
                    try pass(data)
                    try drain()
                } else if offset > emitted {
                    guard pendingBytes + data.count <= PageSink.maxPendingBytes else {
                        return fail("SQLite wrote too far ahead of the next page (at byte \(offset), expecting \(emitted))")
                    }
                    pending[offset] = Array(data)
                    pendingBytes += data.count
                } else {
                    return fail("SQLite rewrote a page already passed on (byte \(offset))")
                }
                return true
            } catch {
                if failure == nil { failure = error }
                return false
            }
        }
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int64 {
        if offset >= size { return 0 }
        let page1: [UInt8]?
        switch mode {
        case .capturePage1: page1 = finalPage1
        case .stream(let first): page1 = first
        }
        if offset == 0, let page1 {
            let n = min(buffer.count, page1.count)
            page1.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            return Int64(n)
        }
        if let page = pending[offset] {
            let n = min(buffer.count, page.count)
            page.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            return Int64(n)
        }
        if case .capturePage1 = mode { return 0 }
        _ = fail("SQLite read back byte \(offset) of a streamed image")
        return -1
    }

    private func pass(_ bytes: UnsafeRawBufferPointer) throws {
        guard let consumer else { throw ImageStreamError(reason: "no consumer") }
        try consumer(bytes)
        emitted += Int64(bytes.count)
    }

    private func pass(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try pass($0) } }

    private func drain() throws {
        while let page = pending.removeValue(forKey: emitted) {
            pendingBytes -= page.count
            try pass(page)
        }
    }

    /// Passes on what is left once SQLite is done: held pages in order, and zeros for pages SQLite never
    /// writes (the page holding the lock byte at 1 GiB stays a hole in a file, which reads as zeros).
    func finish() throws {
        if let failure { throw failure }
        guard case .stream(let page1) = mode else { return }
        guard finalPage1 != nil else { throw ImageStreamError(reason: "the copy never wrote page 1") }
        if emitted == 0 { try pass(page1) }
        let zeros = [UInt8](repeating: 0, count: page1.count)
        while emitted < size {
            if pending[emitted] != nil {
                try drain()
            } else {
                let count = min(Int64(zeros.count), size - emitted)
                try zeros.withUnsafeBytes { try pass(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(count)))) }
            }
        }
        guard pending.isEmpty, emitted == size else {
            throw ImageStreamError(reason: "pages were written past the end of the image")
        }
    }
}
