import BackstopCore
import BackstopCodec
import BackstopStore
import Foundation

/// A lease on a remote store (`lock.json`): one run at a time may change it (prune). Created with
/// `If-None-Match: *`, so two machines never both get it; it names its owner and expires, so one killed
/// mid-prune blocks the others only until then, and is taken over (with `If-Match` on the stale lease's
/// ETag, so two runs never take it over together). Renewed while held.
public final class RemoteLease: @unchecked Sendable {
    struct Record: Codable {
        var owner: String
        var token: String
        var acquiredAt: String
        var expiresAt: String
        enum CodingKeys: String, CodingKey { case owner, token, acquiredAt = "acquired_at", expiresAt = "expires_at" }
    }

    let store: RemoteStore
    let ttl: TimeInterval
    private var etag: String
    private var record: Record
    private var renewedAt: Date
    private var released = false
    /// Set when a stale lease was taken over: whose, and since when it had expired.
    public private(set) var tookOverFrom: String?

    var key: String { store.where_.key("lock.json") }

    private init(store: RemoteStore, ttl: TimeInterval, etag: String, record: Record, tookOverFrom: String?) {
        self.store = store; self.ttl = ttl; self.etag = etag; self.record = record; self.tookOverFrom = tookOverFrom
        renewedAt = Date()
    }

    static func newRecord(ttl: TimeInterval, token: String, now: Date = Date()) -> Record {
        let command = CommandLine.arguments.prefix(2).map { ($0 as NSString).lastPathComponent }.joined(separator: " ")
        return Record(owner: "\(ProcessInfo.processInfo.hostName) pid \(getpid()) (\(command))", token: token,
                      acquiredAt: Timestamp.rfc3339(now), expiresAt: Timestamp.rfc3339(now.addingTimeInterval(ttl)))
    }

    static func encode(_ record: Record) throws -> Data { try StoreJSON.encode(record) }

    /// Takes the lease, waiting up to `wait` seconds for a live holder. Throws ``BackstopError/locked(what:holder:waited:)``.
    public static func acquire(_ store: RemoteStore, ttl: TimeInterval = 600, wait: TimeInterval) throws -> RemoteLease {
        let client = store.client
        let key = store.where_.key("lock.json")
        var bytes = [UInt8](repeating: 0, count: 16)
        _ = SecRandom.fill(&bytes)
        let token = S3Digest.hex(bytes)
        let start = Date()
        while true {
            let record = newRecord(ttl: ttl, token: token)
            let body = try encode(record)
            switch try client.put(key, body: body, contentType: "application/json", ifNoneMatch: true) {
            case .stored(let etag):
                return try confirmed(store, ttl: ttl, record: record, etag: etag, tookOverFrom: nil)
            case .notImplemented:
                // No conditional writes: look, write, read back (a narrow race remains; said in the README).
                if try client.head(key) == nil {
                    _ = try client.put(key, body: body, contentType: "application/json")
                    return try confirmed(store, ttl: ttl, record: record, etag: "", tookOverFrom: nil)
                }
            case .preconditionFailed: break
            }
            // Someone holds it: stale, or wait.
            let response = try client.send("GET", key: key, accept: [404], doing: "reading the lease \(client.describe(key))")
            if response.status == 404 { continue }
            let holder = try? JSONDecoder().decode(Record.self, from: response.body)
            let expires = holder.flatMap { Timestamp.parseRFC3339($0.expiresAt) } ?? .distantPast
            if expires < Date() {
                let owner = holder.map { "\(TerminalSafe.line($0.owner)), whose lease expired at \($0.expiresAt)" } ?? "an unreadable lease"
                switch try client.put(key, body: body, contentType: "application/json", ifMatch: response.etag ?? "") {
                case .stored(let etag): return try confirmed(store, ttl: ttl, record: record, etag: etag, tookOverFrom: owner)
                case .notImplemented:
                    _ = try client.put(key, body: body, contentType: "application/json")
                    return try confirmed(store, ttl: ttl, record: record, etag: "", tookOverFrom: owner)
                case .preconditionFailed: continue
                }
            }
            let waited = Date().timeIntervalSince(start)
            if waited >= wait {
                let who = holder.map { "\(TerminalSafe.line($0.owner)) (lease until \($0.expiresAt))" } ?? "another run"
                throw BackstopError.locked(what: "the replica \(store.location)", holder: who, waited: waited)
            }
            Thread.sleep(forTimeInterval: min(0.5, max(0.05, wait - waited)))
        }
    }

    /// Reads the lease back: it must carry this run's token.
    private static func confirmed(_ store: RemoteStore, ttl: TimeInterval, record: Record, etag: String, tookOverFrom: String?) throws -> RemoteLease {
        let response = try store.client.send("GET", key: store.where_.key("lock.json"), accept: [404], doing: "reading the lease back")
        guard response.status != 404, let there = try? JSONDecoder().decode(Record.self, from: response.body), there.token == record.token else {
            throw BackstopError.locked(what: "the replica \(store.location)", holder: "another run that took the lease at the same moment", waited: 0)
        }
        return RemoteLease(store: store, ttl: ttl, etag: response.etag ?? etag, record: record, tookOverFrom: tookOverFrom)
    }

    /// Extends the lease when half its time has passed; throws when another run took it over meanwhile.
    public func renewIfNeeded() throws {
        guard Date().timeIntervalSince(renewedAt) > ttl / 2 else { return }
        var next = RemoteLease.newRecord(ttl: ttl, token: record.token)
        next.acquiredAt = record.acquiredAt
        switch try store.client.put(key, body: try RemoteLease.encode(next), contentType: "application/json",
                                    ifMatch: etag.isEmpty ? nil : etag) {
        case .stored(let newTag):
            etag = newTag
            record = next
            renewedAt = Date()
        case .preconditionFailed, .notImplemented:
            throw BackstopError.locked(what: "the replica \(store.location)", holder: "another run, which took over this run's lease", waited: 0)
        }
    }

    /// Gives the lease up (only if it is still this run's).
    public func release() {
        guard !released else { return }
        released = true
        guard let response = try? store.client.send("GET", key: key, accept: [404], doing: "reading the lease"),
              response.status != 404,
              let there = try? JSONDecoder().decode(Record.self, from: response.body), there.token == record.token else { return }
        try? store.client.delete(key)
    }

    deinit { release() }
}

enum SecRandom {
    static func fill(_ bytes: inout [UInt8]) -> Bool {
        let count = bytes.count
        return bytes.withUnsafeMutableBytes { getentropy($0.baseAddress, count) == 0 }
    }
}
