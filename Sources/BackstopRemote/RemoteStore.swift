import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation
import Synchronization

/// `s3://bucket/prefix`: a bucket and a key prefix (may be empty).
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    public var prefix: String

    public init(bucket: String, prefix: String) { self.bucket = bucket; self.prefix = prefix }

    /// Parses `s3://bucket` or `s3://bucket/some/prefix` (a trailing slash is dropped).
    public init(url: String) throws {
        guard url.hasPrefix("s3://") else {
            throw BackstopError.invalidInput("'\(url)' is not an s3://bucket/prefix URL")
        }
        let rest = url.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(parts.first ?? "")
        // Bucket names: 3-63 of a-z 0-9 . - (S3's rules; other servers accept a subset of these too).
        guard (3...63).contains(bucket.count),
              bucket.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }) else {
            throw BackstopError.invalidInput("'\(url)': '\(bucket)' is not a valid bucket name (3 to 63 characters: a-z, 0-9, '.', '-')")
        }
        var prefix = parts.count > 1 ? String(parts[1]) : ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard !prefix.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) || prefix.isEmpty,
              !prefix.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw BackstopError.invalidInput("'\(url)': the prefix must be plain path segments (no empty, '.' or '..' parts, no control characters)")
        }
        self.bucket = bucket
        self.prefix = prefix
    }

    public var description: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") }

    /// The key of a file in the store.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)/\(name)" }
    /// What listing the store's files starts with.
    public var listPrefix: String { prefix.isEmpty ? "" : "\(prefix)/" }
}

/// A snapshot store on S3-compatible object storage: the same files as a local store (`<id>.sqlite.gz[.age]`
/// and `<id>.json`, plus `aliases.json`), so a snapshot exists once its manifest is there. The manifest is
/// uploaded last and never over another (`If-None-Match: *`); data files are checked after upload (size,
/// ETag, SHA-256). `lock.json` is a lease that one prune at a time holds.
public final class RemoteStore: SnapshotRepository, @unchecked Sendable {
    public let name: String
    public let where_: S3Location
    public let client: S3Client
    public let keys: SnapshotKeys
    /// Files larger than this go up in parts of at least this size.
    public let partSize: Int64
    /// Parts in flight at once.
    public let parallelism: Int

    private let cache = Mutex<(scan: (snapshots: [Manifest], problems: [StoreProblem])?, objects: [String: S3Object])>((nil, [:]))

    public init(name: String, location: S3Location, client: S3Client, keys: SnapshotKeys = SnapshotKeys(),
                partSize: Int64 = 8 << 20, parallelism: Int = max(2, min(ProcessInfo.processInfo.activeProcessorCount * 2, 8))) {
        self.name = name
        self.where_ = location
        self.client = client
        self.keys = keys
        self.partSize = partSize
        self.parallelism = parallelism
    }

    public var location: String { where_.description }

    /// The store's own objects besides snapshots.
    public static let bookkeeping: Set<String> = ["lock.json", "aliases.json"]

    // MARK: - Reading

    public func scan() throws -> (snapshots: [Manifest], problems: [StoreProblem]) {
        if let cached = cache.withLock({ $0.scan }) { return cached }
        let listed = try client.list(prefix: where_.listPrefix)
        var objects: [String: S3Object] = [:]
        for object in listed {
            let name = String(object.key.dropFirst(where_.listPrefix.count))
            guard !name.isEmpty, !name.contains("/") else { continue }
            objects[name] = object
        }
        let manifestNames = objects.keys.filter { $0.hasSuffix(".json") && !RemoteStore.bookkeeping.contains($0) }.sorted()
        let results = Mutex<[String: Result<Manifest, Error>]>([:])
        let next = Atomic<Int>(0)
        BlockingThreads.run(width: min(max(manifestNames.count, 1), parallelism)) {
            do {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < manifestNames.count else { return false }
                let name = manifestNames[i]
                let result: Result<Manifest, Error>
                do {
                    guard let data = try client.get(where_.key(name)) else {
                        throw BackstopError.snapshotNotFound("it was removed while listing")
                    }
                    result = .success(try Manifest.decode(data))
                } catch let error as BackstopError {
                    if case .remote = error { result = .failure(error) } else { result = .failure(BackstopError.invalidInput(error.description)) }
                } catch {
                    result = .failure(error)
                }
                results.withLock { $0[name] = result }
                return true
            }
        }
        var snapshots: [Manifest] = []
        var problems: [StoreProblem] = []
        let all = results.withLock { $0 }
        for name in manifestNames {
            let id = String(name.dropLast(5))
            guard Manifest.isValidID(id) else { problems.append(StoreProblem(file: name, reason: "not a snapshot manifest name")); continue }
            switch all[name] {
            case .success(let manifest)?:
                guard manifest.id == id else { problems.append(StoreProblem(file: name, reason: "cannot be read: its id is \(manifest.id)")); continue }
                guard let data = objects[manifest.file] else {
                    problems.append(StoreProblem(file: name, reason: "its data file \(manifest.file) is missing"))
                    continue
                }
                guard data.size == manifest.compressedBytes else {
                    problems.append(StoreProblem(file: name, reason: "its data file \(manifest.file) has \(data.size) bytes, the manifest says \(manifest.compressedBytes)"))
                    continue
                }
                snapshots.append(manifest)
            case .failure(let error as BackstopError)?:
                if case .remote = error { throw error }
                problems.append(StoreProblem(file: name, reason: "cannot be read: \(error.description)"))
            case .failure(let error)?:
                problems.append(StoreProblem(file: name, reason: "cannot be read: \(error)"))
            case nil:
                problems.append(StoreProblem(file: name, reason: "cannot be read"))
            }
        }
        for name in objects.keys.sorted() {
            guard let id = Manifest.id(ofDataFile: name) else { continue }
            if objects[Manifest.manifestName(for: id)] == nil {
                problems.append(StoreProblem(file: name, reason: "incomplete snapshot (no manifest)"))
            }
        }
        snapshots.sort(by: Manifest.committedBefore)
        let result = (snapshots, problems.sorted { $0.file < $1.file })
        cache.withLock { $0 = (result, objects) }
        return result
    }

    /// Forgets what was listed, after a change.
    func invalidate() { cache.withLock { $0 = (nil, [:]) } }

    public func aliases() throws -> [DatabaseAlias] {
        guard let data = try client.get(where_.key("aliases.json")) else { return [] }
        return try DatabaseAlias.decodeFile(data, source: "\(location)/aliases.json")
    }

    public func openStored(_ manifest: Manifest) throws -> SnapshotBytes {
        _ = try scan()
        let key = where_.key(manifest.file)
        let listed = cache.withLock { $0.objects[manifest.file] }
        guard let object = try listed ?? client.head(key) else {
            throw BackstopError.snapshotGone(id: manifest.id, file: client.describe(key))
        }
        let id = manifest.id
        let described = client.describe(key)
        return RemoteReader(client: client, key: key, size: object.size, etag: object.etag,
                            onGone: { BackstopError.snapshotGone(id: id, file: described) }).bytes
    }

    /// What the server says of a snapshot's data file without reading it: its size, and its SHA-256: the
    /// one the server computed (objects uploaded in one piece), else the one recorded at upload
    /// (`x-amz-meta-backstop-sha256`, which the server checked part by part).
    public func storedSummary(_ manifest: Manifest) throws -> StoredSummary? {
        let key = where_.key(manifest.file)
        guard let object = try client.head(key) else {
            throw BackstopError.snapshotGone(id: manifest.id, file: client.describe(key))
        }
        return StoredSummary(size: object.size, sha256: object.checksumSHA256 ?? object.metadata["backstop-sha256"])
    }

    // MARK: - Writing

    public enum PushOutcome: Sendable, Equatable {
        /// Uploaded now (`resumedParts`: parts an earlier, interrupted push had already sent).
        case pushed(bytes: Int64, resumedParts: Int)
        /// The replica already had it.
        case present
    }

    /// Copies one snapshot from `source` as it is stored there (the data file first, checked, then the
    /// manifest, never over another one). Idempotent; an interrupted upload of a large file resumes with
    /// the parts already sent.
    public func push(_ manifest: Manifest, from source: any SnapshotRepository,
                     progress: ((Int64, Int64) -> Void)? = nil) throws -> PushOutcome {
        try push(manifest, data: { try source.openStored(manifest) }, resumable: true, progress: progress)
    }

    /// True when the replica holds the snapshot `manifest` describes (however it is encrypted there);
    /// refused when it holds another snapshot under the same id.
    public func holds(_ manifest: Manifest) throws -> Bool {
        let manifestKey = where_.key(Manifest.manifestName(for: manifest.id))
        guard try client.head(manifestKey) != nil else { return false }
        try confirmSame(manifest, at: manifestKey)
        return true
    }

    /// Uploads the data file that `data` opens, which `manifest` describes as the replica will hold it (the
    /// local file, or a copy encrypted for the replica), then the manifest. `resumable`: the same bytes
    /// would be read again on another run, so an interrupted upload of the key is continued; otherwise it is
    /// aborted and the upload starts over.
    public func push(_ manifest: Manifest, data: () throws -> SnapshotBytes, resumable: Bool,
                     progress: ((Int64, Int64) -> Void)? = nil) throws -> PushOutcome {
        if try holds(manifest) { return .present }
        let manifestKey = where_.key(Manifest.manifestName(for: manifest.id))
        let dataKey = where_.key(manifest.file)
        var resumed = 0
        if let existing = try client.head(dataKey), existing.size == manifest.compressedBytes,
           existing.metadata["backstop-sha256"] == manifest.compressedSha256 {
            progress?(manifest.compressedBytes, manifest.compressedBytes)
        } else {
            let stored = try data()
            defer { stored.close() }
            guard stored.size == manifest.compressedBytes else {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "its data file has \(stored.size) bytes, the manifest says \(manifest.compressedBytes); it was not pushed")
            }
            let expectedETag: String
            if stored.size <= partSize {
                var body = Data(count: Int(stored.size))
                try body.withUnsafeMutableBytes { try stored.read($0, 0) }
                guard SHA256Hasher.hex(of: body) == manifest.compressedSha256 else {
                    throw BackstopError.verificationFailed(id: manifest.id, reason: "its data file's SHA-256 does not match the manifest; it was not pushed")
                }
                _ = try client.put(dataKey, body: body, metadata: ["backstop-sha256": manifest.compressedSha256])
                expectedETag = S3Digest.hex(S3Digest.md5(body))
                progress?(stored.size, stored.size)
            } else {
                (expectedETag, resumed) = try uploadInParts(manifest, key: dataKey, from: stored, resumable: resumable, progress: progress)
            }
            Fault.point("push.after-data")
            guard let uploaded = try client.head(dataKey) else {
                throw BackstopError.remote("\(client.describe(dataKey)) is missing right after its upload; nothing was listed", status: nil, code: nil, remedy: nil)
            }
            var differences: [String] = []
            if uploaded.size != manifest.compressedBytes { differences.append("\(uploaded.size) bytes instead of \(manifest.compressedBytes)") }
            if !uploaded.etag.isEmpty, uploaded.etag.allSatisfy({ $0.isHexDigit || $0 == "-" }), uploaded.etag != expectedETag {
                differences.append("ETag \(uploaded.etag) instead of \(expectedETag)")
            }
            if let recorded = uploaded.metadata["backstop-sha256"], recorded != manifest.compressedSha256 {
                differences.append("the SHA-256 recorded with it is another file's")
            }
            guard differences.isEmpty else {
                try? client.delete(dataKey)
                throw BackstopError.remote(
                    "\(client.describe(dataKey)) does not match what was sent (\(differences.joined(separator: ", "))); it was removed and the snapshot was not listed",
                    status: nil, code: nil, remedy: .checkConnection(client.endpoint.url.absoluteString))
            }
        }
        try putManifest(manifest, key: manifestKey)
        invalidate()
        return .pushed(bytes: manifest.compressedBytes, resumedParts: resumed)
    }

    /// The manifest, last, never over another: `If-None-Match: *`; where the server does not support it
    /// (501), a HEAD first and a read back after.
    private func putManifest(_ manifest: Manifest, key: String) throws {
        let body = try manifest.encoded()
        switch try client.put(key, body: body, contentType: "application/json", ifNoneMatch: true) {
        case .stored: break
        case .preconditionFailed:
            try confirmSame(manifest, at: key)
            return
        case .notImplemented:
            if try client.head(key) != nil {
                try confirmSame(manifest, at: key)
                return
            }
            _ = try client.put(key, body: body, contentType: "application/json")
        }
        Fault.point("push.after-manifest")
        guard let stored = try client.head(key), stored.size == Int64(body.count) else {
            throw BackstopError.remote("\(client.describe(key)) is not as uploaded", status: nil, code: nil, remedy: nil)
        }
        try confirmSame(manifest, at: key)
    }

    /// The same snapshot: the same id and image, compressed into the same gzip stream (encrypted or not,
    /// to whichever keys).
    static func isSameSnapshot(_ a: Manifest, _ b: Manifest) -> Bool {
        a.id == b.id && a.sha256 == b.sha256 && a.dbBytes == b.dbBytes && a.gzipSha256 == b.gzipSha256
    }

    /// The manifest at `key` describes the same snapshot as `manifest` (``isSameSnapshot(_:_:)``).
    private func confirmSame(_ manifest: Manifest, at key: String) throws {
        guard let data = try client.get(key) else { return }
        let there = try? Manifest.decode(data)
        guard let there, RemoteStore.isSameSnapshot(there, manifest) else {
            throw BackstopError.refused("\(client.describe(key)) already holds another snapshot \(manifest.id); it was left as it is and nothing was pushed",
                                        remedy: nil)
        }
    }

    /// Multipart upload with at most `parallelism` parts in memory; with `resumable`, continues an
    /// unfinished upload of the same key (parts whose MD5 matches are not sent again), else aborts it.
    /// Returns the expected ETag and the parts reused.
    private func uploadInParts(_ manifest: Manifest, key: String, from stored: SnapshotBytes, resumable: Bool,
                               progress: ((Int64, Int64) -> Void)?) throws -> (String, Int) {
        let size = stored.size
        // S3 allows 10,000 parts: larger files get larger parts (whole MiB).
        let partSize = max(self.partSize, ((size / 9_000) + (1 << 20)) & ~((1 << 20) - 1))
        let count = Int((size + partSize - 1) / partSize)
        var uploadID: String?
        var found: [Int: S3Client.Part] = [:]
        let unfinished = try client.listMultipartUploads(prefix: key).filter { $0.key == key }
        if resumable, let latest = unfinished.max(by: { ($0.initiated ?? .distantPast) < ($1.initiated ?? .distantPast) }) {
            uploadID = latest.id
            for part in try client.listParts(key, uploadID: latest.id) { found[part.number] = part }
        } else {
            // Its parts hold other bytes (another encryption), and its recorded SHA-256 is another file's.
            for upload in unfinished { try client.abortMultipartUpload(key, uploadID: upload.id) }
        }
        let id = try uploadID ?? client.createMultipartUpload(key, metadata: ["backstop-sha256": manifest.compressedSha256])
        let md5s = Mutex<[Int: [UInt8]]>([:])
        let failure = Mutex<Error?>(nil)
        let next = Atomic<Int>(0)
        let sent = Atomic<Int64>(0)
        let reused = Atomic<Int>(0)
        nonisolated(unsafe) let hasher = SHA256Hasher()
        nonisolated(unsafe) let progress = progress
        let already = found
        let hashed = Mutex<(next: Int, pending: [Int: Data])>((0, [:]))
        let report = Mutex<Void>(())
        BlockingThreads.run(width: min(parallelism, count)) {
            if failure.withLock({ $0 != nil }) { return false }
            do {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return false }
                do {
                    let lower = Int64(index) * partSize
                    let length = Int(min(partSize, size - lower))
                    var body = Data(count: length)
                    try body.withUnsafeMutableBytes { try stored.read($0, lower) }
                    // The whole file's SHA-256, in order, so that what was read is what the manifest promises.
                    hashed.withLock { h in
                        h.pending[index] = body
                        while let piece = h.pending.removeValue(forKey: h.next) { hasher.update(piece); h.next += 1 }
                    }
                    let md5 = S3Digest.md5(body)
                    if let part = already[index + 1], part.size == Int64(length), part.etag == S3Digest.hex(md5) {
                        reused.add(1, ordering: .relaxed)
                    } else {
                        let etag = try client.uploadPart(key, uploadID: id, number: index + 1, body: body)
                        guard etag.isEmpty || etag == S3Digest.hex(md5) || !etag.allSatisfy(\.isHexDigit) else {
                            throw BackstopError.remote("part \(index + 1) of \(client.describe(key)) arrived damaged (ETag \(etag))", status: nil, code: nil, remedy: nil)
                        }
                        Fault.point("push.after-part")
                    }
                    md5s.withLock { $0[index + 1] = md5 }
                    let total = sent.add(Int64(length), ordering: .relaxed).newValue
                    report.withLock { _ in progress?(total, size) }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
                return true
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        guard hasher.finalizeHex() == manifest.compressedSha256 else {
            try? client.abortMultipartUpload(key, uploadID: id)
            throw BackstopError.verificationFailed(id: manifest.id, reason: "its data file's SHA-256 does not match the manifest; it was not pushed")
        }
        let parts = md5s.withLock { $0 }
        try client.completeMultipartUpload(key, uploadID: id, parts: (1...count).map {
            S3Client.Part(number: $0, etag: S3Digest.hex(parts[$0]!), size: 0)
        })
        return (S3Digest.multipartETag(partMD5s: (1...count).map { parts[$0]! }), reused.load(ordering: .relaxed))
    }

    /// Copies the local store's record of moved databases, so that a restore from the replica finds them.
    public func pushAliases(_ aliases: [DatabaseAlias]) throws {
        guard !aliases.isEmpty, try self.aliases() != aliases else { return }
        _ = try client.put(where_.key("aliases.json"), body: try DatabaseAlias.encodeFile(aliases), contentType: "application/json")
    }

    /// Copies a snapshot's pin (and its note) from `local` to the replica's manifest of the same snapshot,
    /// so that the replica's prune keeps it too. The manifest is rewritten only if it changes, with
    /// `If-Match` on the ETag it was read with (a concurrent change is refused, never overwritten).
    /// Returns the replica's manifest, or nil when the replica does not hold the snapshot.
    public func copyPin(from local: Manifest) throws -> Manifest? {
        let key = where_.key(Manifest.manifestName(for: local.id))
        guard let object = try client.head(key) else { return nil }
        let data: Data?
        do { data = try client.get(key, ifMatch: object.etag.isEmpty ? nil : object.etag) } catch BackstopError.remote(_, 412?, _, _) {
            throw changedMeanwhile(key)
        }
        guard let data else { return nil }
        var there: Manifest
        do { there = try Manifest.decode(data) } catch {
            throw BackstopError.invalidInput("\(client.describe(key)) cannot be read: \(error); its pin was not changed")
        }
        guard RemoteStore.isSameSnapshot(there, local) else {
            throw BackstopError.refused("\(client.describe(key)) holds another snapshot \(local.id); its pin was not changed", remedy: nil)
        }
        guard there.pinned != local.pinned || there.pinNote != local.pinNote else { return there }
        there.pinned = local.pinned
        there.pinNote = local.pinNote
        switch try client.put(key, body: try there.encoded(), contentType: "application/json", ifMatch: object.etag.isEmpty ? nil : object.etag) {
        case .stored: break
        case .preconditionFailed: throw changedMeanwhile(key)
        case .notImplemented: _ = try client.put(key, body: try there.encoded(), contentType: "application/json")
        }
        invalidate()
        return there
    }

    private func changedMeanwhile(_ key: String) -> BackstopError {
        .refused("\(client.describe(key)) changed while its pin was being set (a prune or another pin?); nothing was overwritten; run the command again",
                 remedy: nil)
    }

    /// Removes a snapshot: the manifest first, so a half-removed snapshot is never listed.
    public func remove(_ manifest: Manifest) throws {
        try client.delete(where_.key(Manifest.manifestName(for: manifest.id)))
        try client.delete(where_.key(manifest.file))
        invalidate()
    }

    /// How long an unfinished upload or a data file without a manifest must sit before a prune removes it.
    public static let staleAge: TimeInterval = 3600

    /// Aborts multipart uploads and removes data files without a manifest older than ``staleAge`` (left by
    /// pushes that were killed). Returns what was (or, dry, would be) removed.
    public func removeStale(now: Date = Date(), dryRun: Bool) throws -> [String] {
        var removed: [String] = []
        for upload in try client.listMultipartUploads(prefix: where_.listPrefix) {
            guard let initiated = upload.initiated, now.timeIntervalSince(initiated) > RemoteStore.staleAge else { continue }
            if !dryRun { try client.abortMultipartUpload(upload.key, uploadID: upload.id) }
            removed.append("unfinished upload of \(upload.key.dropFirst(where_.listPrefix.count))")
        }
        invalidate()
        _ = try scan()
        let objects = cache.withLock { $0.objects }
        for (name, object) in objects.sorted(by: { $0.key < $1.key }) {
            guard let id = Manifest.id(ofDataFile: name), objects[Manifest.manifestName(for: id)] == nil,
                  let modified = object.lastModified, now.timeIntervalSince(modified) > RemoteStore.staleAge else { continue }
            if !dryRun { try client.delete(object.key) }
            removed.append(name)
        }
        if !removed.isEmpty { invalidate() }
        return removed
    }
}
