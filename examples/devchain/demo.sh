#!/usr/bin/env bash
# The devchain upgrade, end to end: run by `make demo`. Prints each command before running it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
backstop=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
loadgen=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/backstop-demo.XXXXXX")}
mkdir -p "$work"
cd "$work"
rm -rf devchain.db devchain.db-* devchain.db.backstop backstop.toml

source "$here/demo-lib.sh"
# A command that is expected to be refused: show its exit status and go on.
refused() {
    show "$@"
    set +e; "$@"; local status=$?; set -e
    printf '(exit status %s, as expected)\n' "$status"
    [[ $status -ne 0 ]]
}
sqlite() { sqlite3 -bail devchain.db "$@"; }

step "A sample database of the devchain app at version 0027 (in $work)"
run "$loadgen" devchain devchain.db
cat > backstop.toml <<TOML
# Which database, and where its migrations are. Snapshots go to devchain.db.backstop/.
db = "devchain.db"
migrations = "$here/migrations"
TOML
run cat backstop.toml

step "Where does the database stand?"
run backstop status
run backstop baseline 27
run backstop status

step "The guard refuses to migrate while agent sessions are running"
refused backstop migrate --yes

step "Stop the running sessions"
run sqlite "UPDATE sessions SET status = 'completed', ended_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE status = 'running'; SELECT changes() || ' sessions stopped';"

step "Rehearse on a private copy: same checks, row counts before and after"
run backstop migrate --dry-run

step "Migrate: a pre-migration snapshot first, then 0028-0030 in one transaction"
run backstop migrate --yes
run backstop history
run backstop list
run backstop verify --deep

step "Roll back: restore the pre-migration snapshot (a pre-restore snapshot makes this undoable)"
run backstop rollback --yes
run backstop status

if [[ -x "$here/support-demo.sh" ]]; then
    "$here/support-demo.sh" "$backstop" "$work"
fi

step "The cron side: what an hourly, a nightly and a weekly job run (quiet when all is well)"
cat >> backstop.toml <<TOML
policy = "$here/../../policies/hourly-cron.toml"
TOML
run cat backstop.toml
echo "# hourly: a snapshot only when the database changed since the last one"
run backstop snapshot --if-changed
run backstop snapshot --if-changed
echo "# nightly: retention, first as a dry run that gives each snapshot's reasons"
run backstop prune --dry-run
run backstop prune --quiet
echo "# weekly: decompress every snapshot and run PRAGMA integrity_check on it"
run backstop verify --deep
run backstop journal

step "Done. Everything is in $work"
