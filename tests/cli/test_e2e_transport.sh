#!/usr/bin/env bash
# End to end on loopback, real processes: `haetae server` and two `haetae
# agent`s (separate state directories) enrolled with `haetae enroll`. Events
# flow and become alerts and incidents; the server is killed with -9 in the
# middle of a stream while the agents keep spooling, and restarted; one
# agent is killed with -9 in the middle of a send and restarted. At the end
# every log line the agents read is stored exactly once (counted in the
# server's store, per agent, against what was written).
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
command -v python3 >/dev/null || { echo "needs python3 (sqlite3 module)"; exit 77; }

work=$(mktemp -d /tmp/haetae-e2e-XXXXXX)
server_pid="" a1_pid="" a2_pid=""
cleanup() {
  for pid in $a1_pid $a2_pid $server_pid; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; keep=1; for f in "$work"/*.err; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

listen=127.0.0.1:0
start_server() {
  "$bin" server --data "$work/server" --listen "$listen" >"$work/server.out" 2>>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    # || true: the background shell may not have created server.out yet
    url=$(sed -n 's/^haetae server: \(https:[^ ]*\)$/\1/p' "$work/server.out" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "server exited"
    sleep 0.1
  done
  [ -n "$url" ] || fail "server did not start"
  listen=${url#https://} # a restart comes back on the same port
}

start_agent() { # name
  "$bin" agent --state "$work/$1" --no-defaults --no-journal --interval 3600 \
    --log "$work/$1.log" >>"$work/$1.out" 2>>"$work/$1.err" &
  eval "${1}_pid=$!"
}

# Appends lines [from, to) naming the agent to its log.
write_lines() { # name from to
  local i
  for ((i = $2; i < $3; i++)); do echo "e2e-line $1 $i padding-to-look-like-a-log-line"; done >>"$work/$1.log"
}

# rows, distinct ids and distinct lines stored for this agent's log
stored() { # name
  python3 - "$work/server/haetae.db" "$(cat "$work/$1.id")" "$1" <<'EOF'
import sqlite3, sys, json
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
rows = db.execute("SELECT id, body FROM events WHERE agent_id = ? AND body LIKE ?",
                  (sys.argv[2], f"%e2e-line {sys.argv[3]} %")).fetchall()
lines = {json.loads(b).get("Message") for _, b in rows}
print(len(rows), len({i for i, _ in rows}), len(lines))
EOF
}

wait_stored() { # name count seconds
  local got=""
  for _ in $(seq 1 $(($3 * 5))); do
    got=$(stored "$1" 2>/dev/null || true)
    [ "$got" = "$2 $2 $2" ] && return 0
    sleep 0.2
  done
  fail "$1: stored (rows ids lines) = $got, expected $2 of each"
}

start_server
url="https://$listen"
for a in a1 a2; do
  token=$("$bin" server token create --ttl 10m --data "$work/server")
  "$bin" enroll --server "$url" --token "$token" --state "$work/$a" --hostname "e2e-$a" >"$work/$a.enroll" \
    || fail "enroll $a"
  sed -n 's/.* as agent \([0-9a-f-]*\)$/\1/p' "$work/$a.enroll" >"$work/$a.id"
  [ -s "$work/$a.id" ] || fail "no agent id for $a"
  [ "$(stat -c %a "$work/$a/agent.key")" = 600 ] || fail "agent.key is not 0600"
  touch "$work/$a.log"
  start_agent "$a"
done
sleep 1.5 # the agents open their logs at the end

# 1. events flow
write_lines a1 0 2000
write_lines a2 0 2000
wait_stored a1 2000 120
wait_stored a2 2000 120
echo "flow: 2000 + 2000 events stored"

# Findings (agent.started at least) became alerts and incidents.
for _ in $(seq 1 100); do
  alerts=$("$bin" alert list --format json --data "$work/server" | grep -c '"rule_id"' || true)
  incidents=$("$bin" incident list --format json --data "$work/server" | grep -c '"state"' || true)
  [ "$alerts" -ge 2 ] && [ "$incidents" -ge 1 ] && break
  sleep 0.2
done
[ "$alerts" -ge 2 ] || fail "expected alerts from both agents' findings, got $alerts"
[ "$incidents" -ge 1 ] || fail "expected an incident, got $incidents"
agents=$("$bin" server agent list --format json --data "$work/server")
for a in a1 a2; do grep -q "e2e-$a" <<<"$agents" || fail "agent list lacks e2e-$a"; done
echo "detection: $alerts alerts, $incidents incidents"

# 2. kill -9 of the server in the middle of a stream of 100k events (2000 +
# 48,000 lines for each agent); the agents keep spooling
( for k in $(seq 0 19); do write_lines a1 $((2000 + k * 2400)) $((4400 + k * 2400)); write_lines a2 $((2000 + k * 2400)) $((4400 + k * 2400)); sleep 0.1; done ) &
writer=$!
sleep 0.5
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true
wait "$writer"
sleep 2 # the agents fail, back off and keep spooling
during=$(stored a1 | cut -d' ' -f1)
[ "$during" -lt 50000 ] || fail "a1 cannot have stored everything while the server was down"
grep -q "events stay spooled" "$work/a1.err" || fail "a1 did not report the server's absence"
start_server
wait_stored a1 50000 240
wait_stored a2 50000 240
echo "server kill -9: 50000 + 50000 stored exactly once ($during of a1's before the kill)"

# 3. kill -9 of an agent in the middle of a send: the server is frozen so
# the agent's POST hangs, the agent dies, the server thaws, the agent restarts.
write_lines a2 50000 51000
sleep 1.5 # read and spooled by a2
kill -STOP "$server_pid"
write_lines a2 51000 52000
sleep 1.5
kill -9 "$a2_pid"; wait "$a2_pid" 2>/dev/null || true
kill -CONT "$server_pid"
start_agent a2
wait_stored a2 52000 180
echo "agent kill -9: 52000 of a2's stored exactly once"

# Both agents stop cleanly on SIGINT.
kill -INT "$a1_pid" "$a2_pid"
wait "$a1_pid" || fail "a1 did not exit cleanly"
wait "$a2_pid" || fail "a2 did not exit cleanly"
a1_pid="" a2_pid=""
echo "e2e: ok"
