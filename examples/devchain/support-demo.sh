#!/usr/bin/env bash
# The support scenario of SUPPORT.md, run at the end of `make demo`: restore a profile that 0029 merged away.
set -euo pipefail
backstop=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$work"
source "$here/demo-lib.sh"

step "Support scenario: upgrade again; then a customer reports that profile 'planner-fast' of project 1 is gone"
run backstop migrate --yes --quiet
# JSON from --json, read with the sqlite3 shell's JSON functions.
backstop list --json > list.json
snapshot=$(sqlite3 -batch :memory: \
    "SELECT json_extract(value, '$.id') FROM json_each(readfile('list.json'), '$.snapshots')
     WHERE json_extract(value, '$.kind') = 'pre-migration' ORDER BY 1 DESC LIMIT 1")
backstop diff "$snapshot" --table agent_profiles --json > diff.json
profile=$(sqlite3 -batch :memory: \
    "SELECT json_extract(value, '$.id') FROM json_each(readfile('diff.json'), '$.tables[0].rows.deleted')
     WHERE json_extract(value, '$.project_id') = 1 AND json_extract(value, '$.name') = 'planner-fast'")
rm -f list.json diff.json
echo "(the pre-migration snapshot is $snapshot; the lost profile has id $profile)"

step "1. Find it: what the snapshot holds that the live database lost"
run backstop diff "$snapshot"
run backstop diff "$snapshot" --table agent_profiles --limit 5

step "2. Pin the snapshot while the ticket is open"
run backstop pin "$snapshot" --note "ticket 4711: restore profile planner-fast"

step "3. Rehearse, then recover the profile, its missing children, and point its agents back"
run backstop recover "$snapshot" --table agent_profiles --where "id = $profile" --children --repoint --dry-run
run backstop recover "$snapshot" --table agent_profiles --where "id = $profile" --children --repoint --yes

step "4. Bring the recovered rows up to the current schema (0028-0030)"
printf '%s$ sqlite3 -bail devchain.db -cmd ".parameter set :profile_id %s" < %s%s\n' "$bold" "$profile" "$here/support/after_recover_profile.sql" "$plain"
sqlite3 -bail devchain.db -cmd ".parameter set :profile_id $profile" < "$here/support/after_recover_profile.sql"

step "5. Check: every verify query of 0028-0030 and PRAGMA foreign_key_check"
run backstop check --postconditions --from 28
run backstop list
