-- Backstop evaluates these queries before any migration run or restore of the devchain database.
-- Each must return no rows; if one does, the command refuses and prints the rows.

-- Sessions still running: an agent in the middle of a session would see its profile change under it.
SELECT id AS session_id, agent_id, started_at FROM sessions WHERE status = 'running';
