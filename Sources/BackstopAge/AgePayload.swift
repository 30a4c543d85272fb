import Foundation

/// age's payload (age-encryption.org/v1): a 16-byte nonce, then the plaintext in 64 KiB chunks, each
/// sealed with ChaCha20-Poly1305 under a key derived from the file key and the nonce. A chunk's nonce
/// is its 11-byte big-endian number and a byte that is 1 for the last chunk only: chunks cannot be
/// reordered, dropped or appended without failing to decrypt.
enum AgePayload {
    static let chunkSize = 64 << 10
    static let tagSize = 16
    static let sealedChunkSize = chunkSize + tagSize
    static let nonceSize = 16

    static func key(fileKey: [UInt8], nonce: [UInt8]) -> [UInt8] {
        Crypto.hkdf(ikm: fileKey, salt: nonce, info: Array("payload".utf8))
    }

    static func chunkNonce(_ index: Int64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        var value = UInt64(index)
        for i in stride(from: 10, through: 3, by: -1) {
            nonce[i] = UInt8(value & 0xff)
            value >>= 8
        }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    /// Seals `plaintext` as consecutive chunks from `firstChunk` on, in parallel (an empty plaintext is
    /// one empty chunk); the chunk numbered `lastChunk`, if among them, is marked as the file's last.
    static func seal(_ plaintext: UnsafeRawBufferPointer, key: [UInt8], firstChunk: Int64, lastChunk: Int64?) -> [UInt8] {
        let count = max(1, (plaintext.count + chunkSize - 1) / chunkSize)
        var sealed = [UInt8](repeating: 0, count: plaintext.count + count * tagSize)
        sealed.withUnsafeMutableBytes { output in
            nonisolated(unsafe) let input = plaintext, output = output
            DispatchQueue.concurrentPerform(iterations: count) { i in
                let start = i * chunkSize
                let length = min(chunkSize, input.count - start)
                let outStart = i * sealedChunkSize
                let index = firstChunk + Int64(i)
                Crypto.seal(key: key, nonce: chunkNonce(index, last: index == lastChunk),
                            plaintext: UnsafeRawBufferPointer(rebasing: input[start..<(start + length)]),
                            into: UnsafeMutableRawBufferPointer(rebasing: output[outStart..<(outStart + length + tagSize)]))
            }
        }
        return sealed
    }

    /// Chunks and plaintext size of a payload of `sealedBytes` bytes (after the nonce); throws when no
    /// valid payload has that length (truncated, or an empty last chunk).
    static func geometry(sealedBytes: Int64) throws -> (chunks: Int64, plaintext: Int64) {
        let full = Int64(sealedChunkSize)
        guard sealedBytes >= Int64(tagSize) else {
            throw AgeError(kind: .payload, message: "the encrypted file is truncated: its payload has no complete chunk")
        }
        let chunks = (sealedBytes + full - 1) / full
        let last = sealedBytes - (chunks - 1) * full
        guard last >= Int64(tagSize), chunks == 1 || last > Int64(tagSize) else {
            throw AgeError(kind: .payload, message: "the encrypted file is truncated or has data after its end")
        }
        return (chunks, sealedBytes - chunks * Int64(tagSize))
    }
}

/// Encrypts a stream into an age file, in 64 KiB chunks sealed on all cores, a batch at a time: memory
/// stays at one batch (1 MiB) whatever the size of the stream.
///
/// ```swift
/// let age = try AgeEncryptor(recipients: [recipient], write: write)
/// try age.append(bytes)      // as many times as needed
/// try age.finish()
/// ```
public final class AgeEncryptor {
    public typealias Writer = (UnsafeRawBufferPointer) throws -> Void

    private let key: [UInt8]
    private let write: Writer
    private let batchChunks: Int
    private var pending: [UInt8] = []
    private var nextChunk: Int64 = 0
    private var finished = false
    /// Bytes written so far (header, nonce and sealed chunks).
    public private(set) var writtenBytes: Int64 = 0

    /// Writes the header (the file key wrapped to each recipient) and the payload nonce at once.
    public init(recipients: [AgeRecipient], batchChunks: Int = 16, write: @escaping Writer) throws {
        let fileKey = Crypto.random(16)
        let header = try AgeHeader.make(fileKey: fileKey, recipients: recipients)
        let nonce = Crypto.random(AgePayload.nonceSize)
        key = AgePayload.key(fileKey: fileKey, nonce: nonce)
        self.write = write
        self.batchChunks = max(1, batchChunks)
        pending.reserveCapacity(self.batchChunks * AgePayload.chunkSize)
        try (header + nonce).withUnsafeBytes { try write($0) }
        writtenBytes = Int64(header.count + nonce.count)
    }

    /// Adds plaintext. A full batch is sealed only once more data follows it, so the last chunk is known.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "append after finish")
        var rest = bytes[...]
        let batchBytes = batchChunks * AgePayload.chunkSize
        while !rest.isEmpty {
            if pending.count == batchBytes {
                try seal(pending, last: false)
                pending.removeAll(keepingCapacity: true)
            }
            let take = min(batchBytes - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
        }
    }

    /// Seals what is left, the last chunk marked as such (one empty chunk when the stream was empty).
    public func finish() throws {
        precondition(!finished, "finish twice")
        finished = true
        try seal(pending, last: true)
        pending = []
    }

    /// Seals `plaintext` as the next chunks, in parallel; with `last`, its final chunk is the file's last.
    private func seal(_ plaintext: [UInt8], last: Bool) throws {
        let count = max(1, (plaintext.count + AgePayload.chunkSize - 1) / AgePayload.chunkSize)
        let sealed = plaintext.withUnsafeBytes {
            AgePayload.seal($0, key: key, firstChunk: nextChunk, lastChunk: last ? nextChunk + Int64(count) - 1 : nil)
        }
        nextChunk += Int64(count)
        try sealed.withUnsafeBytes { try write($0) }
        writtenBytes += Int64(sealed.count)
    }
}

/// Random access to the plaintext of an age file: chunks are read, authenticated and decrypted on
/// demand (several at once, on all cores, when reads are sequential) into a small cache. A chunk that
/// does not authenticate is an error, never plaintext.
public final class AgeDecryptingReader: @unchecked Sendable {
    public typealias RawReader = (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Void

    /// Bytes of plaintext.
    public let size: Int64
    /// Bytes of the encrypted file.
    public let encryptedSize: Int64
    private let readRaw: RawReader
    private let key: [UInt8]
    private let payloadStart: Int64
    private let chunkCount: Int64
    private let lock = NSLock()
    private var cache: [Int64: [UInt8]] = [:]
    private var recent: [Int64] = []
    private let cacheChunks: Int
    private var nextSequential: Int64 = -1
    // The encrypted bytes in file order, for a caller that checksums the file as stored.
    private let onEncrypted: ((UnsafeRawBufferPointer) -> Void)?
    private var encryptedFedThrough: Int64 = 0

    /// Opens an age file of `size` bytes that `read` reads: parses its header, unwraps the file key with
    /// one of `identities`, and checks the MAC and the last chunk (so a truncation shows at once).
    /// `onEncrypted`, when given, receives the file's bytes in order as reads go through them (see
    /// ``feedRemainingEncrypted()``).
    public init(size encryptedSize: Int64, identities: [AgeIdentity], cacheChunks: Int = 64,
                onEncrypted: ((UnsafeRawBufferPointer) -> Void)? = nil, read: @escaping RawReader) throws {
        self.encryptedSize = encryptedSize
        readRaw = read
        self.onEncrypted = onEncrypted
        self.cacheChunks = max(cacheChunks, 32)
        let header = try AgeHeader.read(size: encryptedSize, read: read)
        guard encryptedSize >= Int64(header.length + AgePayload.nonceSize) else {
            throw AgeError.header("the file ends before the payload's nonce")
        }
        var nonce = [UInt8](repeating: 0, count: AgePayload.nonceSize)
        try nonce.withUnsafeMutableBytes { try read($0, Int64(header.length)) }
        payloadStart = Int64(header.length + AgePayload.nonceSize)
        let geometry = try AgePayload.geometry(sealedBytes: encryptedSize - payloadStart)
        chunkCount = geometry.chunks
        size = geometry.plaintext
        let fileKey = try header.fileKey(identities: identities)
        key = AgePayload.key(fileKey: fileKey, nonce: nonce)
        if let onEncrypted {
            var start = [UInt8](repeating: 0, count: Int(payloadStart))
            try start.withUnsafeMutableBytes { try read($0, 0) }
            start.withUnsafeBytes { onEncrypted($0) }
            encryptedFedThrough = payloadStart
        }
        try lock.withLock { _ = try chunkLocked(chunkCount - 1) }
    }

    /// Reads exactly `buffer.count` bytes of plaintext at `offset`.
    public func read(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0, offset + Int64(buffer.count) <= size else {
            throw AgeError(kind: .payload, message: "a read past the end of the decrypted data")
        }
        var done = 0
        try lock.withLock {
            while done < buffer.count {
                let position = offset + Int64(done)
                let index = position / Int64(AgePayload.chunkSize)
                let within = Int(position % Int64(AgePayload.chunkSize))
                let chunk = try chunkLocked(index)
                let count = min(chunk.count - within, buffer.count - done)
                guard count > 0 else { throw AgeError(kind: .payload, message: "chunk \(index) is shorter than expected") }
                chunk.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + count)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[within..<(within + count)]))
                }
                done += count
            }
        }
    }

    /// Reads the encrypted bytes that reads have not yet passed to `onEncrypted` in order, so that it has
    /// seen the whole file.
    public func feedRemainingEncrypted() throws {
        guard let onEncrypted else { return }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        try lock.withLock {
            while encryptedFedThrough < encryptedSize {
                let count = Int(min(Int64(buffer.count), encryptedSize - encryptedFedThrough))
                try buffer.withUnsafeMutableBytes { try readRaw(UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), encryptedFedThrough) }
                buffer.withUnsafeBytes { onEncrypted(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                encryptedFedThrough += Int64(count)
            }
        }
    }

    /// The decrypted chunk `index`, from the cache or read now: with the chunks after it when reads are
    /// sequential (decrypted in parallel).
    private func chunkLocked(_ index: Int64) throws -> [UInt8] {
        if let hit = cache[index] { return hit }
        let readahead: Int64 = index == nextSequential || index == 0 ? 16 : 1
        var end = index + 1
        while end < min(chunkCount, index + readahead) && cache[end] == nil { end += 1 }
        let indices = Array(index..<end)
        let decrypted = try decrypt(indices)
        for (i, chunk) in zip(indices, decrypted) {
            cache[i] = chunk
            recent.append(i)
        }
        while recent.count > cacheChunks { cache.removeValue(forKey: recent.removeFirst()) }
        nextSequential = end
        return decrypted[0]
    }

    /// Reads and decrypts consecutive chunks; passes their encrypted bytes on when they come next in order.
    private func decrypt(_ indices: [Int64]) throws -> [[UInt8]] {
        let first = indices[0]
        let start = payloadStart + first * Int64(AgePayload.sealedChunkSize)
        let end = min(encryptedSize, payloadStart + (indices.last! + 1) * Int64(AgePayload.sealedChunkSize))
        var sealed = [UInt8](repeating: 0, count: Int(end - start))
        try sealed.withUnsafeMutableBytes { try readRaw($0, start) }
        if let onEncrypted, start == encryptedFedThrough {
            sealed.withUnsafeBytes { onEncrypted($0) }
            encryptedFedThrough = end
        }
        var results = [[UInt8]?](repeating: nil, count: indices.count)
        let key = self.key, chunkCount = self.chunkCount
        let count = indices.count
        sealed.withUnsafeBytes { input in
            nonisolated(unsafe) let input = input
            results.withUnsafeMutableBufferPointer { output in
                nonisolated(unsafe) let output = output
                DispatchQueue.concurrentPerform(iterations: count) { i in
                    let index = first + Int64(i)
                    let from = i * AgePayload.sealedChunkSize
                    let to = min(input.count, from + AgePayload.sealedChunkSize)
                    var plain = [UInt8](repeating: 0, count: to - from - AgePayload.tagSize)
                    let ok = plain.withUnsafeMutableBytes {
                        Crypto.open(key: key, nonce: AgePayload.chunkNonce(index, last: index == chunkCount - 1),
                                    sealed: UnsafeRawBufferPointer(rebasing: input[from..<to]), into: $0)
                    }
                    output[i] = ok ? plain : nil
                }
            }
        }
        return try results.enumerated().map { i, chunk in
            guard let chunk else {
                throw AgeError(kind: .payload, message: "chunk \(first + Int64(i)) of the encrypted file does not authenticate: the file is damaged, truncated or was changed")
            }
            return chunk
        }
    }
}

/// Random access to one age encryption of a plaintext that `read` reads: the file key, header and
/// payload nonce are made once, and each chunk is sealed when a read needs it (several at once, on all
/// cores). The same offsets read the same bytes for as long as this object lives, so the encrypted file
/// can be hashed in one pass and sent in parts, in parallel, in another, without being written anywhere.
/// The file key lives only in this object.
public final class AgeEncryptingReader: @unchecked Sendable {
    public typealias PlaintextReader = (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Void

    /// Bytes of the encrypted file.
    public let size: Int64
    /// Bytes of plaintext.
    public let plaintextSize: Int64
    private let prefix: [UInt8]
    private let key: [UInt8]
    private let chunkCount: Int64
    private let readPlaintext: PlaintextReader

    /// Encrypts to `recipients` the `plaintextSize` bytes that `read` reads (a range at a time, from any thread).
    public init(recipients: [AgeRecipient], plaintextSize: Int64, read: @escaping PlaintextReader) throws {
        precondition(plaintextSize >= 0)
        let fileKey = Crypto.random(16)
        let nonce = Crypto.random(AgePayload.nonceSize)
        prefix = try AgeHeader.make(fileKey: fileKey, recipients: recipients) + nonce
        key = AgePayload.key(fileKey: fileKey, nonce: nonce)
        self.plaintextSize = plaintextSize
        readPlaintext = read
        // An empty plaintext is one empty (last) chunk, as age writes it.
        chunkCount = max(1, (plaintextSize + Int64(AgePayload.chunkSize) - 1) / Int64(AgePayload.chunkSize))
        size = Int64(prefix.count) + plaintextSize + chunkCount * Int64(AgePayload.tagSize)
    }

    /// Reads exactly `buffer.count` bytes of the encrypted file at `offset`.
    public func read(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0, offset + Int64(buffer.count) <= size else {
            throw AgeError(kind: .payload, message: "a read past the end of the encrypted file")
        }
        var done = 0
        // The header and nonce.
        if offset < Int64(prefix.count) {
            let count = min(prefix.count - Int(offset), buffer.count)
            prefix.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(offset)..<(Int(offset) + count)]))
            }
            done = count
        }
        // The sealed chunks the rest of the range falls in, sealed now, a batch at a time (memory stays at
        // one batch whatever the size of the read).
        let sealedSize = Int64(AgePayload.sealedChunkSize)
        while done < buffer.count {
            let payloadOffset = offset + Int64(done) - Int64(prefix.count)
            let first = payloadOffset / sealedSize
            let last = min((payloadOffset + Int64(buffer.count - done) - 1) / sealedSize, first + Int64(AgeEncryptingReader.batchChunks) - 1)
            let sealed = try seal(first...last)
            let skip = Int(payloadOffset - first * sealedSize)
            let count = min(sealed.count - skip, buffer.count - done)
            sealed.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[skip..<(skip + count)]))
            }
            done += count
        }
    }

    /// Chunks sealed at once by one read: 1 MiB of plaintext, enough to keep every core busy.
    static let batchChunks = 16

    /// The chunks `indices`, sealed, one after another.
    private func seal(_ indices: ClosedRange<Int64>) throws -> [UInt8] {
        let chunkSize = Int64(AgePayload.chunkSize)
        let plainStart = indices.lowerBound * chunkSize
        let plainEnd = min(plaintextSize, (indices.upperBound + 1) * chunkSize)
        var plaintext = [UInt8](repeating: 0, count: Int(plainEnd - plainStart))
        if !plaintext.isEmpty { try plaintext.withUnsafeMutableBytes { try readPlaintext($0, plainStart) } }
        return plaintext.withUnsafeBytes {
            AgePayload.seal($0, key: key, firstChunk: indices.lowerBound, lastChunk: chunkCount - 1)
        }
    }
}
