-- 0029: merge agent profiles that share (project_id, family_slug) into one survivor (a data merge).
-- The survivor is the oldest profile of the family that has a provider (or the oldest one).
-- Agents and provider configs of the merged-away profiles are re-pointed to the survivor; a config
-- whose provider the survivor already has is dropped. The merged-away profiles are deleted.
-- (Backstop runs this with foreign keys unenforced: ON DELETE CASCADE does not fire, so children are
-- handled explicitly, and PRAGMA foreign_key_check must be empty before commit.)

-- backstop:up
CREATE TEMP TABLE profile_merge AS
WITH ranked AS (
    SELECT id, project_id, family_slug,
           first_value(id) OVER (PARTITION BY project_id, family_slug
                                 ORDER BY provider_id IS NULL, id) AS survivor_id,
           count(*) OVER (PARTITION BY project_id, family_slug) AS members
    FROM agent_profiles
)
SELECT id AS loser_id, survivor_id FROM ranked WHERE members > 1 AND id != survivor_id;

UPDATE agents
SET profile_id = (SELECT survivor_id FROM temp.profile_merge WHERE loser_id = agents.profile_id)
WHERE profile_id IN (SELECT loser_id FROM temp.profile_merge);

-- Keep one config per (survivor, provider): the survivor's own, else the merged one with the lowest id.
DELETE FROM profile_provider_configs
WHERE id IN (
    SELECT c.id
    FROM profile_provider_configs c
    JOIN temp.profile_merge m ON m.loser_id = c.profile_id
    WHERE EXISTS (
        SELECT 1 FROM profile_provider_configs k
        WHERE k.provider_id = c.provider_id
          AND (k.profile_id = m.survivor_id
               OR (k.id < c.id AND k.profile_id IN (SELECT loser_id FROM temp.profile_merge WHERE survivor_id = m.survivor_id)))
    )
);

UPDATE profile_provider_configs
SET profile_id = (SELECT survivor_id FROM temp.profile_merge WHERE loser_id = profile_provider_configs.profile_id)
WHERE profile_id IN (SELECT loser_id FROM temp.profile_merge);

DELETE FROM agent_profiles WHERE id IN (SELECT loser_id FROM temp.profile_merge);

DROP TABLE temp.profile_merge;

-- backstop:verify
-- No family slug is shared within a project any more.
SELECT project_id, family_slug, count(*) AS profiles FROM agent_profiles
GROUP BY project_id, family_slug HAVING count(*) > 1;
-- Every agent still has its profile (foreign_key_check also covers this).
SELECT a.id AS agent_id, a.profile_id FROM agents a
WHERE NOT EXISTS (SELECT 1 FROM agent_profiles p WHERE p.id = a.profile_id);
