-- 0030: agents point at the provider configuration they run with.

-- backstop:up
ALTER TABLE agents ADD COLUMN provider_config_id INTEGER REFERENCES profile_provider_configs(id);

UPDATE agents
SET provider_config_id = (
    SELECT c.id FROM profile_provider_configs c
    JOIN agent_profiles p ON p.id = c.profile_id
    WHERE c.profile_id = agents.profile_id AND c.provider_id = p.provider_id
);

CREATE INDEX agents_provider_config ON agents(provider_config_id);

-- backstop:verify
-- No agent is left without a config where its profile has a provider.
SELECT a.id AS agent_id, a.profile_id FROM agents a
JOIN agent_profiles p ON p.id = a.profile_id
WHERE p.provider_id IS NOT NULL AND a.provider_config_id IS NULL;

-- backstop:down
DROP INDEX agents_provider_config;
ALTER TABLE agents DROP COLUMN provider_config_id;
