import Foundation

/// Where an application's own migrator (Alembic, Django, drizzle, golang-migrate, Flyway, GRDB ...) has
/// brought a database, as its own history table says. Recorded in manifests as `app_migrations`.
public struct AppMigrationState: Codable, Equatable, Sendable {
    /// The migrator, by its usual name: `alembic`, `django`, `drizzle`, `prisma`, `knex`, `diesel`, `sqlx`,
    /// `golang-migrate`, `dbmate`, `goose`, `flyway`, `grdb`, `fluent`, or `user_version`.
    public var tool: String
    /// The version it records as current, in its own terms (a revision, a migration name, a number);
    /// nil when it has applied nothing yet.
    public var version: String?
    /// How many migrations its history lists as applied, where it keeps one row per migration.
    public var applied: Int?
    /// True when the migrator itself records a failed or unfinished migration (golang-migrate's `dirty`,
    /// a failed Prisma, sqlx or Flyway row).
    public var dirty: Bool
    /// What is wrong, in the migrator's terms, when `dirty`.
    public var problem: String?

    public init(tool: String, version: String?, applied: Int? = nil, dirty: Bool = false, problem: String? = nil) {
        self.tool = tool
        self.version = version
        self.applied = applied
        self.dirty = dirty
        self.problem = problem
    }

    enum CodingKeys: String, CodingKey { case tool, version, applied, dirty, problem }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tool, forKey: .tool)
        try c.encode(version, forKey: .version)
        try c.encode(applied, forKey: .applied)
        try c.encode(dirty, forKey: .dirty)
        try c.encode(problem, forKey: .problem)
    }
}
