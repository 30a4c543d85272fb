import BackstopKit
import Foundation

/// The devchain example database at version 0027: an agent-orchestration app's local database with
/// projects, provider records, agent profiles (some sharing a family slug), agents and sessions.
/// The same seed always gives the same rows.
enum DevchainSample {
    static let schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE providers (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL UNIQUE,
            base_url TEXT,
            api_key_ref TEXT
        );
        CREATE TABLE agent_profiles (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            family_slug TEXT NOT NULL,
            provider_id INTEGER REFERENCES providers(id),
            model TEXT,
            temperature REAL,
            system_prompt TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, name)
        );
        CREATE INDEX agent_profiles_family ON agent_profiles(project_id, family_slug);
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            profile_id INTEGER NOT NULL REFERENCES agent_profiles(id),
            name TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'idle',
            created_at TEXT NOT NULL
        );
        CREATE INDEX agents_profile ON agents(profile_id);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
            started_at TEXT NOT NULL,
            ended_at TEXT,
            tokens INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX sessions_agent ON sessions(agent_id);
        CREATE INDEX sessions_status ON sessions(status);
        """

    static func create(at path: String, scale: Int) throws {
        if FileSystem.exists(path) { throw BackstopError.alreadyExists(path: path) }
        let db = try Database(path: path, mode: .create)
        try db.execute(schema)
        var random = SplitMix64(seed: 2027)
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        let start = Date(timeIntervalSince1970: 1_767_225_600)   // 2026-01-01
        func time(_ seconds: Double) -> String { Timestamp.rfc3339(start.addingTimeInterval(seconds)) }

        let providers: [(String, String, String?)] = [
            ("openai", "OpenAI", "https://api.openai.com/v1"), ("anthropic", "Anthropic", "https://api.anthropic.com"),
            ("ollama", "Local Llama", "http://127.0.0.1:11434"), ("azure", "Azure OpenAI", "https://example.openai.azure.com"),
            ("mistral", "Mistral", "https://api.mistral.ai"), ("bedrock", "Bedrock", nil),
        ]
        let models = ["openai": ["gpt-4.1", "gpt-4o-mini"], "anthropic": ["claude-sonnet", "claude-haiku"],
                      "ollama": ["llama3:70b", "qwen2.5-coder"], "azure": ["gpt-4o"], "mistral": ["mistral-large"],
                      "bedrock": ["titan-text"]]
        let families = ["planner", "coder", "reviewer", "tester", "researcher", "writer", "triage", "ops", "security",
                        "docs", "release", "support", "data", "design", "qa", "infra"]
        let flavours = ["", "-fast", "-deep", "-v2", "-legacy", "-eu"]

        try db.inTransaction {
            let provider = try db.prepare("INSERT INTO providers(kind, name, base_url, api_key_ref) VALUES (?1, ?2, ?3, ?4)")
            for (kind, name, url) in providers {
                try provider.bind([.text(kind), .text(name), url.map { .text($0) } ?? .null, .text("keychain:\(kind)")])
                try provider.step()
            }
            let project = try db.prepare("INSERT INTO projects(slug, name, created_at) VALUES (?1, ?2, ?3)")
            let profile = try db.prepare("""
                INSERT INTO agent_profiles(project_id, name, family_slug, provider_id, model, temperature, system_prompt, created_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """)
            let agent = try db.prepare("INSERT INTO agents(project_id, profile_id, name, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            let session = try db.prepare("INSERT INTO sessions(agent_id, status, started_at, ended_at, tokens) VALUES (?1, ?2, ?3, ?4, ?5)")
            var profileID: Int64 = 0
            var agentID: Int64 = 0
            for p in 1...(20 * scale) {
                try project.bind([.text("project-\(p)"), .text("Project \(p)"), .text(time(Double(p) * 3600))])
                try project.step()
                var profilesOfProject: [Int64] = []
                for family in families {
                    // Most families have one profile; some have two to four that share the slug (to be merged by 0029).
                    let roll = random.next() % 10
                    let count = roll < 6 ? 1 : roll < 8 ? 2 : roll < 9 ? 3 : 4
                    for k in 0..<count {
                        profileID += 1
                        let hasProvider = random.next() % 4 != 0
                        let providerIndex = Int(random.next() % UInt64(providers.count))
                        let kind = providers[providerIndex].0
                        try profile.bind([
                            .integer(Int64(p)), .text("\(family)\(flavours[k % flavours.count])\(k >= flavours.count ? "-\(k)" : "")"),
                            .text(family), hasProvider ? .integer(Int64(providerIndex + 1)) : .null,
                            hasProvider ? .text(pick(models[kind]!)) : .null, .real(Double(random.next() % 11) / 10),
                            .text("You are the \(family) agent of project \(p). Be precise and brief."),
                            .text(time(Double(p) * 3600 + Double(profileID) * 61)),
                        ])
                        try profile.step()
                        profilesOfProject.append(profileID)
                    }
                }
                for a in 0..<60 {
                    agentID += 1
                    let status = ["idle", "idle", "busy", "paused"][Int(random.next() % 4)]
                    try agent.bind([.integer(Int64(p)), .integer(pick(profilesOfProject)), .text("agent-\(p)-\(a)"),
                                    .text(status), .text(time(Double(agentID) * 97))])
                    try agent.step()
                    for s in 0..<Int(4 + random.next() % 5) {
                        let began = Double(agentID) * 97 + Double(s) * 3600
                        let state = pick(["completed", "completed", "completed", "failed", "cancelled"])
                        try session.bind([.integer(agentID), .text(state), .text(time(began)), .text(time(began + 900)),
                                          .integer(Int64(random.next() % 50_000))])
                        try session.step()
                    }
                }
            }
            // A few sessions still running: the guard refuses to migrate until they stop.
            for agent in stride(from: Int64(3), through: agentID, by: Int(max(1, agentID / 7))) {
                try session.bind([.integer(agent), .text("running"), .text(time(30 * 86400)), .null, .integer(0)])
                try session.step()
            }
        }
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let counts = try ["projects", "providers", "agent_profiles", "agents", "sessions"].map {
            "\($0) \(try db.int("SELECT count(*) FROM \($0)"))"
        }
        print("created \(path) at version 0027: " + counts.joined(separator: ", "))
    }
}
