#!/usr/bin/env bash
# Issue 5 end to end through the binary: a server and an enrolled agent make
# an incident; beside the running server the CLI records awareness and the
# incident's attributes (an intrusion with personal data, KR and EU), which
# the server's ledger writer logs; the API serves a checkpoint and proofs;
# the obligations are the Korean and GDPR ones with the right due times;
# reports render (ko/en, md/html/json); marking one sent is logged; after
# the server stops, `incident timeline --proofs` writes proofs that
# `haetae ledger verify` accepts from files alone; the STIX export validates
# against the STIX 2.1 schemas (python3-jsonschema).
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "needs python3-jsonschema"; exit 77; }
stix=${HAETAE_SHARED_DATA:-}/stix2/schemas
[ -d "$stix" ] || { echo "needs the shared STIX schemas"; exit 77; }

work=$(mktemp -d /tmp/haetae-clocks-XXXXXX)
server_pid="" agent_pid=""
cleanup() {
  for pid in $agent_pid $server_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; keep=1; tail -20 "$work"/*.err 2>/dev/null || true; exit 1; }
data=$work/server
export HAETAE_POLICIES_DIR=$HAETAE_SOURCE_DIR/policies

"$bin" server --data "$data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^haetae server: \(https:[^ ]*\)$/\1/p' "$work/server.out" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || fail "server did not start"
token=$("$bin" server token create --ttl 10m --data "$data")
"$bin" enroll --server "$url" --token "$token" --state "$work/agent" --hostname clocks-host >/dev/null \
  || fail "enroll"
touch "$work/agent.log"
"$bin" agent --state "$work/agent" --no-defaults --no-journal --interval 3600 --log "$work/agent.log" \
  >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
id=""
for _ in $(seq 1 300); do
  id=$("$bin" incident list --format json --data "$data" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p' | head -1)
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] || fail "no incident"
# show --format json is one valid document holding the alerts and transitions
"$bin" incident show "$id" --format json --data "$data" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["incident"]["id"] and len(doc["alerts"]) >= 1 and len(doc["transitions"]) >= 1, doc
' || fail "incident show --format json is not one valid JSON document"
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""

# Beside the running server: the CLI's changes wait for the server's writer.
"$bin" incident set "$id" kind=intrusion,personal_data_leak region=kr,eu sector=telecom \
  persons=1500 data_kinds=rrn,phone cause="BPFDoor backdoor on the HSS" \
  damage="USIM data of subscribers" response="servers isolated" contact="CISO, 02-000-0000" \
  dpo="dpo@example.com" --data "$data" >/dev/null || fail "incident set"
if "$bin" incident set "$id" kind=meteor --data "$data" 2>/dev/null; then fail "accepted kind=meteor"; fi
"$bin" incident update "$id" --state triaged --moment aware --note "SOC aware" --data "$data" \
  --format json >"$work/aware.json" || fail "update"
grep -q '"moment":"aware"' "$work/aware.json" || fail "aware not recorded"
aware=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["at"])' "$work/aware.json")

# Obligations: Korean 24 h / 72 h / 72 h, GDPR 72 h, NIS2 24 h / 72 h.
"$bin" obligations --incident "$id" --format json --data "$data" >"$work/obligations.json"
python3 - "$work/obligations.json" "$aware" <<'EOF' || fail "obligations"
import json, sys
from datetime import datetime, timedelta
rows = {o["rule"]: o for o in map(json.loads, open(sys.argv[1]))}
aware = datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00")[:26] + "+00:00")
def due(rule):
    return datetime.fromisoformat(rows[rule]["due"][:26] + "+00:00")
want = {"kr.network_act.48-3": 24, "kr.pipa.34-1.subjects": 72, "kr.pipa.34-3.regulator": 72,
        "eu.gdpr.33": 72, "eu.nis2.23-4a": 24, "eu.nis2.23-4b": 72}
for rule, hours in want.items():
    assert rule in rows, f"{rule} missing: {sorted(rows)}"
    delta = due(rule) - aware
    assert abs(delta - timedelta(hours=hours)) < timedelta(seconds=1), (rule, delta)
    assert rows[rule]["status"] == "open", rows[rule]
assert "us.sec.8-k.1.05" not in rows and "kr.efta.21-5" not in rows
print("obligations:", len(rows))
EOF
"$bin" obligations --due-within 25h --format json --data "$data" | grep -q '"kr.network_act.48-3"' \
  || fail "--due-within 25h misses the 24 h report"
if "$bin" obligations --due-within 25h --format json --data "$data" | grep -q '"eu.gdpr.33"'; then
  fail "--due-within 25h shows a 72 h report"
fi

# Reports: Korean and English, Markdown, HTML and JSON.
"$bin" report "$id" --obligation kr.network_act.48-3 --lang ko --data "$data" >"$work/kr.md"
grep -q '침해사고의 원인' "$work/kr.md" && grep -q 'BPFDoor backdoor' "$work/kr.md" || fail "kr report"
"$bin" report "$id" --obligation eu.gdpr.33 --format html --data "$data" >"$work/gdpr.html"
grep -q 'data protection officer' "$work/gdpr.html" || fail "gdpr html"
"$bin" report "$id" --obligation kr.pipa.34-1.subjects --format json --lang en --data "$data" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["fields"][0]["value"]=="rrn,phone", r' \
  || fail "notice json"

# The API: checkpoint, inclusion proof, hash tile (no token needed).
ca=$data/tls/server.crt
for _ in $(seq 1 50); do
  curl -sf --cacert "$ca" "$url/api/v1/ledger/checkpoint" >"$work/api.checkpoint" && break
  sleep 0.2
done
head -1 "$work/api.checkpoint" | grep -q '^haetae.local/[0-9a-f]\{16\}$' || fail "checkpoint origin"
curl -sf --cacert "$ca" "$url/api/v1/ledger/proof/inclusion/0" | head -1 | grep -q 'c2sp.org/tlog-proof@v1' \
  || fail "inclusion proof"
size=$(sed -n 2p "$work/api.checkpoint")
[ "$size" -lt 256 ] || fail "unexpected ledger size $size"
curl -sf --cacert "$ca" "$url/api/v1/ledger/tile/0/000.p/$size" >"$work/tile" || fail "tile"
[ "$(stat -c %s "$work/tile")" = $((32 * size)) ] || fail "tile size"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$url/api/v1/ledger/tile/entries/000.p/$size")
[ "$code" = 401 ] || fail "entry bundle without a token: $code"

"$bin" report mark-sent "$id" --obligation kr.network_act.48-3 --recipient KISA --data "$data" \
  | grep -q 'ledger index' || fail "mark-sent"
"$bin" obligations --incident "$id" --format json --data "$data" | grep '"kr.network_act.48-3"' \
  | grep -q '"status":"met"' || fail "not met after mark-sent"

kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Timeline with proofs, verified from files alone.
"$bin" incident timeline "$id" --proofs --out "$work/proofs" --data "$data" >"$work/timeline.txt" \
  || fail "timeline"
grep -q 'report_sent' "$work/timeline.txt" && grep -q 'incident_attribute' "$work/timeline.txt" \
  || fail "timeline lacks steps"
steps=0
for proof in "$work"/proofs/*.proof; do
  entry=${proof%.proof}.entry
  sed -n '/^$/,$p' "$proof" | tail -n +2 >"$work/cp"
  "$bin" ledger verify --checkpoint "$work/cp" --key "$work/proofs/key.vkey" --proof "$proof" \
    --entry "$entry" >/dev/null || fail "verify $proof"
  steps=$((steps + 1))
done
[ "$steps" -ge 5 ] || fail "only $steps proofs"
# A touched entry fails.
first=$(ls "$work"/proofs/*.entry | head -1)
sed -i 's/"kind":"/"kind":"x/' "$first"
if "$bin" ledger verify --checkpoint "$work/cp" --key "$work/proofs/key.vkey" \
  --proof "${first%.entry}.proof" --entry "$first" >/dev/null 2>&1; then fail "tampered entry verified"; fi
"$bin" ledger verify --checkpoint "$data/ledger/checkpoint" --key "$data/ledger/key.vkey" \
  --dir "$data/ledger" >/dev/null || fail "ledger audit"

# STIX 2.1 bundle against the schemas.
"$bin" incident export "$id" --stix --data "$data" >"$work/bundle.json"
python3 "$HAETAE_SOURCE_DIR/tests/server/stix_validate.py" "$stix" "$work/bundle.json" || fail "stix"
echo "clocks e2e: ok ($steps proofs verified)"
