// A Swift app that imports BackstopKit sees the types its API speaks in: errors, times and sizes
// (BackstopCore), SQLite values and connections (BackstopSQLite), checksums (BackstopCodec), and
// manifests and stores (BackstopStore), remote stores (BackstopRemote).
@_exported import BackstopCore
@_exported import BackstopCodec
@_exported import BackstopSQLite
@_exported import BackstopStore
@_exported import BackstopAge
@_exported import BackstopRemote
