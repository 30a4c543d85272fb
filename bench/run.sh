#!/usr/bin/env bash
# make bench: Backstop against what an operator would otherwise do, measured in the same run.
#   bench/run.sh BACKSTOP LOADGEN [SIZE]      SIZE defaults to 1GiB (e.g. 256MiB for a quick run)
# Results: a table on stdout and in bench/results/latest.md. BENCH_DIR picks the scratch folder.
set -euo pipefail
backstop=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
loadgen=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
size=${3:-1GiB}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-${TMPDIR:-/tmp}/backstop-bench}
results="$root/bench/results"
mkdir -p "$work" "$results"
cd "$work"

db="bench-$size.db"
if [[ ! -f "$db" ]]; then
    echo "generating a realistic database of about $size in $work (kept for later runs) ..."
    "$loadgen" generate "$db.partial" "$size"
    mv "$db.partial" "$db"
fi
rm -rf live.db* store store-enc key.txt key.pub enc.toml cp.db manual.db manual.db.gz restored* diff.db diff.db* explain.txt
cat "$db" > /dev/null   # every tool starts with the database in the page cache

# Free bytes of the file system holding the work folder.
free_bytes() { stat -f -c '%a %S' "$work" | awk '{printf "%.0f", $1 * $2}'; }

# timed KEY NAME COMMAND (a shell pipeline as one string): wall time (s), peak RSS (MiB), and disk use
# on the work folder's file system: peak extra bytes while it ran, and bytes still used when it ended
# (what it keeps); their difference is the scratch space it needed.
timed() {
    local key=$1 name=$2 cmd=$3
    sync
    local before; before=$(free_bytes)
    rm -f "$work/sampling.stop"
    ( low=$before
      while [[ ! -e "$work/sampling.stop" ]]; do
          now=$(free_bytes); (( now < low )) && low=$now
          sleep 0.02
      done
      echo $((before - low)) > "$work/peak.txt" ) &
    local sampler=$!
    /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$cmd" > /dev/null
    sync
    local after; after=$(free_bytes)
    touch "$work/sampling.stop"; wait "$sampler"
    read -r seconds kib < "$work/time.txt"
    local peak; peak=$(cat "$work/peak.txt")
    local kept=$((before - after)); (( kept < 0 )) && kept=0
    (( peak < kept )) && peak=$kept
    printf '%-58s %8.2f s %8.1f MiB RSS %8.1f MiB disk peak %8.1f MiB kept\n' "$name" "$seconds" \
        "$(awk "BEGIN{print $kib/1024}")" "$(mib "$peak")" "$(mib "$kept")" >&2
    eval "t_$key=$seconds; m_$key=$(awk "BEGIN{printf \"%.1f\", $kib/1024}"); d_$key=$(mib "$peak"); k_$key=$(mib "$kept")"
}
bytes() { stat -c %s "$1"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
mib() { awk "BEGIN{printf \"%.1f\", $1/1048576}"; }

cp "$db" live.db
db_bytes=$(bytes live.db)
echo "database: $(mib "$db_bytes") MiB, $(nproc) cores, SQLite $(sqlite3 --version | cut -d' ' -f1)" >&2

echo "--- physical limits" >&2
timed readpages "read every page through SQLite (one read transaction)" "'$loadgen' read-pages live.db"
timed compress  "compress the same bytes (level 6, all cores)"        "'$loadgen' compress live.db 6"
limit=$(awk "BEGIN{print ($t_readpages > $t_compress) ? $t_readpages : $t_compress}")

echo "--- snapshot" >&2
timed cp        "cp (not consistent, uncompressed)"                   "cp live.db cp.db"
timed manual    "sqlite3 .backup + gzip -6"                           "sqlite3 live.db '.backup manual.db' && gzip -6 -c manual.db > manual.db.gz"
manual_gz=$(bytes manual.db.gz)
timed pigz      "sqlite3 .backup + pigz -6 (2 cores)"                 "sqlite3 live.db '.backup pigz.db' && pigz -6 -c pigz.db > pigz.db.gz; rm -f pigz.db pigz.db.gz"
timed snapshot  "backstop snapshot (level 6)"                         "'$backstop' snapshot --db live.db --store store --quiet"
id=$("$backstop" list --store store --json | sed -n 's/.*"id" : "\([0-9TZ]*\)".*/\1/p' | tail -1)
snap_gz=$(bytes "store/$id.sqlite.gz")
timed snapshot1 "backstop snapshot --level 1"                         "'$backstop' snapshot --db live.db --store store --quiet --level 1"

echo "--- verify" >&2
timed verify    "backstop verify (checksum)"                          "'$backstop' verify $id --store store --quiet"
timed verifydeep "backstop verify --deep (+ integrity_check)"         "'$backstop' verify $id --store store --quiet --deep"
timed query     "backstop query: count(*) of every table"             "'$backstop' query $id \"SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM events)\" --store store --csv"

echo "--- restore" >&2
timed mrestore  "gzip -dc | sqlite3 .restore (manual)"                "gzip -dc manual.db.gz > manual-restore.db && sqlite3 restored-manual.db '.restore manual-restore.db'; rm -f manual-restore.db"
timed restoreto "backstop restore --to (new file)"                    "'$backstop' restore $id --store store --to restored.db --quiet"
timed restorelive "backstop restore into the live db (+ pre-restore snapshot)" "'$backstop' restore $id --db live.db --store store --yes --quiet"

echo "--- encryption (age, X25519)" >&2
rm -f key.txt enc.toml; rm -rf store-enc
"$backstop" key generate key.txt > key.pub 2> /dev/null
printf 'db = "live.db"\nstore = "store-enc"\nrecipients = ["%s"]\nidentity = "key.txt"\n' "$(cat key.pub)" > enc.toml
timed agecli    "age -r (the age CLI) on gzip -6's file"              "age -r $(cat key.pub) -o manual.db.gz.age manual.db.gz; rm -f manual.db.gz.age"
timed snapshotenc "backstop snapshot, encrypted (level 6)"            "'$backstop' snapshot --config enc.toml --quiet"
enc_id=$("$backstop" list --config enc.toml --json | sed -n 's/.*"id" : "\([0-9TZ]*\)".*/\1/p' | tail -1)
timed verifydeepenc "backstop verify --deep, encrypted"               "'$backstop' verify $enc_id --config enc.toml --quiet --deep"
timed restoretoenc "backstop restore --to, encrypted"                 "'$backstop' restore $enc_id --config enc.toml --to restored-enc.db --quiet"
rm -f restored-enc.db

echo "--- off-site: SeaweedFS on 127.0.0.1 (loopback), against aws s3 cp of the same file" >&2
venv="$root/.build/bench-venv"
weed_port=$(( 30000 + RANDOM % 2000 * 10 ))
rm -rf weed-data && mkdir -p weed-data
printf '{"identities":[{"name":"bench","credentials":[{"accessKey":"AKBENCH","secretKey":"bench-secret"}],"actions":["Admin","Read","Write","List"]}]}' > weed-ids.json
"$venv/bin/weed" mini -dir="$work/weed-data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -s3.config="$work/weed-ids.json" \
    -s3.port=$weed_port -s3.port.grpc=$((weed_port+1)) -master.port=$((weed_port+2)) -master.port.grpc=$((weed_port+3)) \
    -volume.port=$((weed_port+4)) -volume.port.grpc=$((weed_port+5)) -filer.port=$((weed_port+6)) -filer.port.grpc=$((weed_port+7)) \
    -admin.ui=false -admin.port=$((weed_port+8)) -admin.port.grpc=$((weed_port+9)) -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 > weed.log 2>&1 &
weed_pid=$!
trap 'kill $weed_pid 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=AKBENCH AWS_SECRET_ACCESS_KEY=bench-secret AWS_ENDPOINT_URL="http://127.0.0.1:$weed_port" AWS_REGION=us-east-1
for _ in $(seq 1 100); do "$venv/bin/aws" s3 mb s3://bench > /dev/null 2>&1 && break; sleep 0.3; done
timed awsput    "aws s3 cp (upload the snapshot file)"                "'$venv/bin/aws' s3 cp store/$id.sqlite.gz s3://bench/aws/$id.sqlite.gz --only-show-errors"
timed push      "backstop push (checked upload, manifest last)"       "'$backstop' push $id --db live.db --store store --to s3://bench/bk --quiet"
printf 'db = "live.db"\nstore = "store"\n\n[replicas.enc]\nurl = "s3://bench/enc"\nrecipients = ["%s"]\n' "$(cat key.pub)" > pushenc.toml
timed awsputenc "age -r + aws s3 cp (encrypt, then upload)"          "age -r $(cat key.pub) -o up.age store/$id.sqlite.gz && '$venv/bin/aws' s3 cp up.age s3://bench/aws/$id.sqlite.gz.age --only-show-errors; rm -f up.age"
timed pushenc   "backstop push, encrypted for the replica on the way" "'$backstop' push $id --config pushenc.toml --to enc --quiet"
timed awsget    "aws s3 cp (download the snapshot file)"              "'$venv/bin/aws' s3 cp s3://bench/aws/$id.sqlite.gz dl.gz --only-show-errors; rm -f dl.gz"
timed awsrestore "aws s3 cp + gzip -dc + sqlite3 .restore (manual)"   "'$venv/bin/aws' s3 cp s3://bench/aws/$id.sqlite.gz dl.gz --only-show-errors && gzip -dc dl.gz > dl.db && sqlite3 restored-aws.db '.restore dl.db'; rm -f dl.gz dl.db"
timed remoterestore "backstop restore --from (checked, streamed)"     "'$backstop' restore --from s3://bench/bk $id --db live.db --to restored-remote.db --quiet"
kill $weed_pid 2>/dev/null || true; wait $weed_pid 2>/dev/null || true
trap - EXIT
rm -rf weed-data weed-ids.json weed.log restored-remote.db restored-aws.db pushenc.toml
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_REGION

echo "--- retention and diff" >&2
start=1767225600
for i in $(seq 0 9999); do date -u -d "@$((start + i * 3600))" +%Y-%m-%dT%H:%M:%SZ; done > explain.txt
timed retention "policy explain: 10,000 snapshots (default.toml)"     "'$backstop' policy explain '$root/policies/default.toml' --input explain.txt --now 2027-03-01T00:00:00Z"
sqlite3 diff.db "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000000) INSERT INTO t SELECT i, printf('row %d', i), i % 97 FROM n;" > /dev/null
"$backstop" snapshot --db diff.db --store store --quiet --level 1
diff_id=$("$backstop" list --store store --json | sed -n 's/.*"id" : "\([0-9TZ]*\)".*/\1/p' | tail -1)
sqlite3 diff.db "DELETE FROM t WHERE id % 100 = 0; UPDATE t SET b = -1 WHERE id % 100 = 1; INSERT INTO t SELECT id + 2000000, a, b FROM t WHERE id % 100 = 2;"
timed diff      "backstop diff: two 1,000,000-row tables"             "'$backstop' diff $diff_id --db diff.db --store store --json"

pass() { if awk "BEGIN{exit !($1)}"; then echo "yes"; else echo "NO"; fi; }
speed_snapshot=$(ratio "$t_manual" "$t_snapshot")
speed_restore=$(ratio "$t_mrestore" "$t_restoreto")
speed_live=$(ratio "$t_mrestore" "$t_restorelive")
vs_limit=$(ratio "$t_snapshot" "$limit")
peak=$(printf '%s\n' "$m_snapshot" "$m_verifydeep" "$m_restoreto" "$m_restorelive" "$m_query" "$m_diff" "$m_snapshotenc" "$m_verifydeepenc" "$m_restoretoenc" "$m_push" "$m_pushenc" "$m_remoterestore" | sort -n | tail -1)
enc_cost=$(ratio "$t_snapshotenc" "$t_snapshot")
scratch() { if [[ -z "$1" || -z "$2" ]]; then echo ""; else awk "BEGIN{s = $1 - $2; printf \"%.1f\", (s < 0 ? 0 : s)}"; fi; }
report="$results/latest.md"
{
echo "# Backstop benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "Database: $(mib "$db_bytes") MiB (users with text, events with JSON, indexes), $(nproc) cores, page cache warm."
echo
echo "| operation | time (s) | vs manual | file (MiB) | peak RSS (MiB) | disk peak (MiB) | kept (MiB) | scratch (MiB) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $(scratch "$6" "$7") |"; }
row "read every page through SQLite (limit)" "$t_readpages" "" "" "$m_readpages" "$d_readpages" "$k_readpages"
row "compress the bytes, level 6, all cores (limit)" "$t_compress" "" "" "$m_compress" "$d_compress" "$k_compress"
row "cp (not consistent, uncompressed)" "$t_cp" "" "$(mib "$db_bytes")" "$m_cp" "$d_cp" "$k_cp"
row "sqlite3 .backup + gzip -6 (manual)" "$t_manual" "1.00" "$(mib "$manual_gz")" "$m_manual" "$d_manual" "$k_manual"
row "sqlite3 .backup + pigz -6" "$t_pigz" "$(ratio "$t_manual" "$t_pigz")x" "" "$m_pigz" "$d_pigz" "$k_pigz"
row "**backstop snapshot** (level 6)" "$t_snapshot" "**${speed_snapshot}x**" "$(mib "$snap_gz")" "$m_snapshot" "$d_snapshot" "$k_snapshot"
row "backstop snapshot --level 1" "$t_snapshot1" "$(ratio "$t_manual" "$t_snapshot1")x" "" "$m_snapshot1" "$d_snapshot1" "$k_snapshot1"
row "backstop verify" "$t_verify" "" "" "$m_verify" "$d_verify" "$k_verify"
row "backstop verify --deep" "$t_verifydeep" "" "" "$m_verifydeep" "$d_verifydeep" "$k_verifydeep"
row "backstop query (in place)" "$t_query" "" "" "$m_query" "$d_query" "$k_query"
row "gzip -dc + sqlite3 .restore (manual)" "$t_mrestore" "1.00" "" "$m_mrestore" "$d_mrestore" "$k_mrestore"
row "**backstop restore --to**" "$t_restoreto" "**${speed_restore}x**" "" "$m_restoreto" "$d_restoreto" "$k_restoreto"
row "backstop restore into the live database (verify + pre-restore snapshot + restore)" "$t_restorelive" "${speed_live}x" "" "$m_restorelive" "$d_restorelive" "$k_restorelive"
row "age -r (age CLI) on gzip -6's file" "$t_agecli" "" "" "$m_agecli" "$d_agecli" "$k_agecli"
row "**backstop snapshot, encrypted** (level 6)" "$t_snapshotenc" "$(ratio "$t_manual" "$t_snapshotenc")x" "" "$m_snapshotenc" "$d_snapshotenc" "$k_snapshotenc"
row "backstop verify --deep, encrypted" "$t_verifydeepenc" "" "" "$m_verifydeepenc" "$d_verifydeepenc" "$k_verifydeepenc"
row "backstop restore --to, encrypted" "$t_restoretoenc" "$(ratio "$t_mrestore" "$t_restoretoenc")x" "" "$m_restoretoenc" "$d_restoretoenc" "$k_restoretoenc"
row "aws s3 cp, upload (loopback SeaweedFS)" "$t_awsput" "1.00" "" "$m_awsput" "$d_awsput" "$k_awsput"
row "**backstop push**" "$t_push" "$(ratio "$t_awsput" "$t_push")x" "" "$m_push" "$d_push" "$k_push"
row "age -r + aws s3 cp (encrypt, then upload)" "$t_awsputenc" "1.00" "" "$m_awsputenc" "$d_awsputenc" "$k_awsputenc"
row "**backstop push**, encrypted for the replica on the way" "$t_pushenc" "$(ratio "$t_awsputenc" "$t_pushenc")x" "" "$m_pushenc" "$d_pushenc" "$k_pushenc"
row "aws s3 cp, download" "$t_awsget" "" "" "$m_awsget" "$d_awsget" "$k_awsget"
row "aws s3 cp + gzip -dc + .restore (manual)" "$t_awsrestore" "1.00" "" "$m_awsrestore" "$d_awsrestore" "$k_awsrestore"
row "**backstop restore --from** the replica, --to a new file" "$t_remoterestore" "$(ratio "$t_awsrestore" "$t_remoterestore")x" "" "$m_remoterestore" "$d_remoterestore" "$k_remoterestore"
row "policy explain over 10,000 snapshots" "$t_retention" "" "" "$m_retention" "" ""
row "diff of two 1,000,000-row tables" "$t_diff" "" "" "$m_diff" "$d_diff" "$k_diff"
echo
echo "Disk: the peak extra use of the file system while the command ran, what it still used when it ended (the"
echo "file it wrote), and their difference, the scratch space it needed. A live restore's peak includes the journal"
echo "(or WAL) that SQLite's atomic commit writes beside the database; Backstop itself writes no image anywhere."
echo
echo "Targets:"
echo "- snapshot within 1.3x of the physical limit (max of reading and compressing, $limit s): ${vs_limit}x: $(pass "$vs_limit <= 1.3")"
echo "- snapshot at least 3x faster than .backup + gzip -6: ${speed_snapshot}x: $(pass "$speed_snapshot >= 3")"
echo "- snapshot file within 1% of gzip -6's (Backstop compresses 128 KiB blocks independently, so any page can be read in place): $(mib "$snap_gz") vs $(mib "$manual_gz") MiB: $(pass "$snap_gz <= $manual_gz * 1.01")"
echo "- snapshot needs no scratch space: $(scratch "$d_snapshot" "$k_snapshot") MiB beyond its file: $(pass "$(scratch "$d_snapshot" "$k_snapshot") < 16")"
echo "- restore --to at least 3x faster than gzip -dc + .restore: ${speed_restore}x: $(pass "$speed_restore >= 3"), scratch $(scratch "$d_restoreto" "$k_restoreto") MiB"
echo "- live restore (verify, check, pre-restore snapshot, restore) at least as fast as gzip -dc + .restore: ${speed_live}x: $(pass "$speed_live >= 1")"
echo "- verify --deep and query need no disk: $d_verifydeep and $d_query MiB: $(pass "$d_verifydeep < 16 && $d_query < 16")"
echo "- peak memory under 128 MiB (snapshot, verify, query, restore, diff): $peak MiB: $(pass "$peak < 128")"
echo "- encryption adds at most 15% to a snapshot's time: ${enc_cost}x ($t_snapshotenc s vs $t_snapshot s): $(pass "$enc_cost <= 1.15")"
echo "- push at least as fast as aws s3 cp of the same file: $(ratio "$t_awsput" "$t_push")x: $(pass "$t_push <= $t_awsput"), peak RSS $m_push MiB (aws: $m_awsput MiB)"
echo "- push encrypting for the replica at least as fast as age -r + aws s3 cp: $(ratio "$t_awsputenc" "$t_pushenc")x: $(pass "$t_pushenc <= $t_awsputenc"), scratch $(scratch "$d_pushenc" "$k_pushenc") MiB (the manual way: the .age file)"
echo "- restore from the replica faster than aws s3 cp + gzip -dc + .restore: $(ratio "$t_awsrestore" "$t_remoterestore")x: $(pass "$t_remoterestore <= $t_awsrestore"), scratch $(scratch "$d_remoterestore" "$k_remoterestore") MiB, peak RSS $m_remoterestore MiB"
echo "- retention over 10,000 snapshots well under a second: $t_retention s: $(pass "$t_retention < 1")"
echo "- diff of two 1,000,000-row tables in seconds: $t_diff s: $(pass "$t_diff < 30")"
} > "$report"
echo >&2
cat "$report"
echo
echo "(written to $report)"
rm -rf live.db* store store-enc key.txt key.pub enc.toml cp.db manual.db manual.db.gz restored* diff.db* explain.txt err.txt time.txt peak.txt sampling.stop
