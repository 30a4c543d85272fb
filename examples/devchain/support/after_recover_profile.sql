-- Brings a profile recovered with 'backstop recover' up to the current schema (0028-0030), so the
-- database passes every verify query of migrations 0028 to 0030 and PRAGMA foreign_key_check.
-- Run it with the recovered profile's id bound to :profile_id:
--
--   sqlite3 -bail devchain.db -cmd ".parameter set :profile_id 42" < examples/devchain/support/after_recover_profile.sql
--
-- One transaction: it applies whole or not at all.
BEGIN IMMEDIATE;

-- 0029 merged profiles that shared (project_id, family_slug); the customer wants this one back as a
-- profile of its own, so it gets a family of its own: "<family>-<name>" (0029's verify forbids two
-- profiles of a project sharing a family slug).
UPDATE agent_profiles
SET family_slug = family_slug || '-' || name
WHERE id = :profile_id
  AND EXISTS (SELECT 1 FROM agent_profiles o
              WHERE o.project_id = agent_profiles.project_id AND o.family_slug = agent_profiles.family_slug
                AND o.id != agent_profiles.id);

-- 0028: one provider config per profile that has a provider.
INSERT INTO profile_provider_configs (profile_id, provider_id, model, settings, created_at)
SELECT p.id, p.provider_id, coalesce(p.model, 'default'), json_object('temperature', coalesce(p.temperature, 0.7)),
       strftime('%Y-%m-%dT%H:%M:%fZ')
FROM agent_profiles p
WHERE p.id = :profile_id AND p.provider_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM profile_provider_configs c WHERE c.profile_id = p.id AND c.provider_id = p.provider_id);

-- 0030: the profile's agents (re-pointed back by --repoint) run with its provider config.
UPDATE agents
SET provider_config_id = (
    SELECT c.id FROM profile_provider_configs c JOIN agent_profiles p ON p.id = c.profile_id
    WHERE c.profile_id = agents.profile_id AND c.provider_id = p.provider_id)
WHERE profile_id = :profile_id;

SELECT 'profile ' || id || ' (' || name || '): family ' || family_slug || ', '
       || (SELECT count(*) FROM profile_provider_configs WHERE profile_id = :profile_id) || ' provider config(s), '
       || (SELECT count(*) FROM agents WHERE profile_id = :profile_id) || ' agent(s)'
FROM agent_profiles WHERE id = :profile_id;

COMMIT;
