#!/usr/bin/env bash
# One clock: beside a running server the CLI's changes go through the API,
# so a CLI whose clock is set back or ahead (libfaketime) records awareness,
# attributes and reports at the server's time; a moment claimed twice is
# refused naming the recorded time; with the server stopped a change needs
# --offline and then says so; a copy of the data directory does not send its
# changes to the live server; the API refuses a client's time.
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
command -v faketime >/dev/null || { echo "needs faketime (scripts/install-deps)"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
# shellcheck source=tests/fixtures/server_lib.sh
. "$(dirname "$0")/../fixtures/server_lib.sh" oneclock
data=$work/server

# The CLI with its clock moved by $1 (faketime's -3d, +5d). ASan must not
# insist on coming first: libfaketime is preloaded before it.
skewed() { local shift=$1; shift
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" faketime -f "$shift" "$bin" "$@"; }
# Seconds between an RFC 3339 time and now.
age_s() { python3 -c '
import datetime, sys
t = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
print(abs(int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())))' "$1"; }

start_server "$data"
skewed -3d version >/dev/null 2>&1 || fail "faketime cannot run the binary"
[ "$(ASAN_OPTIONS=verify_asan_link_order=0 faketime -f -3d date -u +%d)" != "$(date -u +%d)" ] ||
  fail "faketime does not move the clock"

make_incident "$data" clock-host

# 1. A CLI three days behind records awareness at the server's time.
skewed -3d incident update "$id" --state triaged --moment aware --note "back-dated?" \
  --data "$data" --format json >aware.json 2>aware.err || fail "update with a skewed clock"
at=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["at"])' aware.json)
[ "$(age_s "$at")" -lt 60 ] || fail "awareness stamped $at by the CLI's clock, not the server's"
grep -q '"who":"admin"' aware.json || fail "the API token's user does not act: $(cat aware.json)"
"$bin" incident show "$id" --format json --data "$data" >show.json
python3 - show.json <<'EOF' || fail "the incident's awareness is not the server's time"
import datetime, json, sys
doc = json.load(open(sys.argv[1]))
aware = datetime.datetime.fromisoformat(doc["incident"]["moments"]["aware"].replace("Z", "+00:00"))
now = datetime.datetime.now(datetime.timezone.utc)
assert abs((now - aware).total_seconds()) < 60, doc["incident"]["moments"]["aware"]
EOF

# 2. A second claim is refused with the recorded time, from any clock.
rc=0
skewed +5d incident update "$id" --state confirmed --moment aware --note again --data "$data" \
  >again.out 2>again.err || rc=$?
[ "$rc" = 1 ] || fail "a second aware exited $rc"
grep -q "moment 'aware' was already recorded at ${at:0:19}" again.err ||
  fail "the refusal does not name the recorded time: $(cat again.err)"
rc=0
"$bin" incident update "$id" --state confirmed --who mallory --data "$data" 2>who.err || rc=$?
[ "$rc" = 2 ] && grep -q -- "--who is for --offline" who.err || fail "--who through the server exited $rc"

# 3. Attributes and a report sent from a clock five days ahead: server time.
skewed +5d incident set "$id" kind=intrusion region=kr sector=telecom persons=10 \
  --data "$data" >/dev/null || fail "incident set with a skewed clock"
rc=0
"$bin" incident set "$id" kind=intrusion persons=many --data "$data" 2>bad.err || rc=$?
[ "$rc" = 3 ] && grep -q "persons: 'many' is not a whole number" bad.err || fail "a bad attribute exited $rc"
rc=0
"$bin" incident set "$id" sector=telcom --data "$data" 2>bad.err || rc=$?
[ "$rc" = 3 ] && grep -q "sector: 'telcom' is not one of financial, banking, .*telecom" bad.err ||
  fail "an unknown sector is not refused with the valid ones (exit $rc): $(cat bad.err)"
"$bin" incident set "$id" region='KR, EU' --data "$data" >/dev/null || fail "region in capitals"
"$bin" incident show "$id" --format json --data "$data" >/dev/null
skewed +5d report mark-sent "$id" --obligation kr.network_act.48-3 --recipient KISA \
  --data "$data" >sent.out 2>sent.err || fail "mark-sent: $(cat sent.err)"
grep -q 'ledger index [0-9]' sent.out || fail "mark-sent printed no ledger index"
"$bin" obligations --incident "$id" --format json --data "$data" >obl.json
python3 - obl.json <<'EOF' || fail "the report's sent time is not the server's"
import datetime, json, sys
now = datetime.datetime.now(datetime.timezone.utc)
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kisa = [r for r in rows if r.get("rule") == "kr.network_act.48-3" or r.get("rule_id") == "kr.network_act.48-3"]
assert kisa, rows
sent = kisa[0].get("sent_at") or kisa[0].get("met_at") or kisa[0].get("sent")
assert sent, kisa[0]
t = datetime.datetime.fromisoformat(sent.replace("Z", "+00:00"))
assert abs((now - t).total_seconds()) < 60, sent
EOF

# Reports: an occurrence nobody established is "unknown", not the detection
# time; an attribute's raw HTML is escaped in Markdown as in HTML.
"$bin" incident set "$id" cause='<script>alert(1)</script> & more' --data "$data" >/dev/null ||
  fail "set cause"
"$bin" report "$id" --obligation kr.network_act.48-3 --lang en --data "$data" >kr.md
grep -A2 'Date and time of the incident' kr.md | grep -qx 'unknown' || fail "an unset occurrence does not read unknown: $(cat kr.md)"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt; &amp; more' kr.md && ! grep -q '<script>' kr.md ||
  fail "raw HTML reaches the Markdown report"
"$bin" report "$id" --obligation kr.network_act.48-3 --lang ko --data "$data" | grep -qx '미상' ||
  fail "an unset occurrence does not read 미상 in Korean"

# 4. A copy of the data directory (a backup) does not reach the live server.
cp -a "$data" copy
rc=0
"$bin" incident set "$id" sector=banking --data copy 2>copy.err || rc=$?
[ "$rc" = 4 ] && grep -q "names $data: a copy" copy.err || fail "a copy wrote through the live server (exit $rc)"

# 5. Stopped: a change needs --offline, and the entry says it was offline.
stop_server
[ ! -e "$data/server.url" ] || fail "a stopped server left server.url"
rc=0
"$bin" incident set "$id" sector=banking --data "$data" 2>stopped.err || rc=$?
[ "$rc" = 4 ] && grep -q 'give --offline' stopped.err || fail "a stopped server's store was written (exit $rc)"
"$bin" incident update "$id" --state confirmed --note "offline step" --offline --who alice \
  --data "$data" --format json >offline.json || fail "--offline update"
grep -q '"who":"alice (offline)"' offline.json || fail "the offline entry does not say so: $(cat offline.json)"
"$bin" incident set "$id" sector=banking --offline --data "$data" >/dev/null || fail "--offline set"

# 6. Started again, the server's ledger holds every step, offline ones named.
start_server "$data"
"$bin" incident show "$id" --format json --data "$data" >final.json
grep -q '"who":"alice (offline)"' final.json || fail "the offline step is not in the history"
grep -q '"why":"back-dated?"' final.json || fail "the first step is lost"
echo "ok: the server's clock stamps CLI changes (-3d, +5d), a second aware is 409, offline says so"
