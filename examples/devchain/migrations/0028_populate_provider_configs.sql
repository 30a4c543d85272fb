-- 0028: one provider configuration per agent profile that has a provider (config population).
-- Profiles without a provider get none.

-- backstop:require
-- The provider a profile names must exist.
SELECT p.id AS profile_id, p.provider_id FROM agent_profiles p
WHERE p.provider_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM providers r WHERE r.id = p.provider_id);

-- backstop:up
CREATE TABLE profile_provider_configs (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES agent_profiles(id) ON DELETE CASCADE,
    provider_id INTEGER NOT NULL REFERENCES providers(id),
    model TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (profile_id, provider_id)
);

INSERT INTO profile_provider_configs (profile_id, provider_id, model, settings, created_at)
SELECT id, provider_id, coalesce(model, 'default'),
       json_object('temperature', coalesce(temperature, 0.7)),
       created_at
FROM agent_profiles
WHERE provider_id IS NOT NULL
ORDER BY id;

CREATE INDEX profile_provider_configs_profile ON profile_provider_configs(profile_id);

-- backstop:verify
-- Every profile with a provider has its config ...
SELECT p.id AS profile_id FROM agent_profiles p
WHERE p.provider_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM profile_provider_configs c WHERE c.profile_id = p.id AND c.provider_id = p.provider_id);
-- ... and profiles without a provider have none.
SELECT c.id AS config_id, c.profile_id FROM profile_provider_configs c
JOIN agent_profiles p ON p.id = c.profile_id
WHERE p.provider_id IS NULL;

-- backstop:down
DROP TABLE profile_provider_configs;
