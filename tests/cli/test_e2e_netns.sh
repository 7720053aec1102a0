#!/usr/bin/env bash
# Several hosts on one machine: the server in one network namespace, two
# agents in two others, each joined to the server by a veth pair with
# addresses this test assigns. Events flow across the links; one link is
# cut (the agent keeps spooling) and restored; every line is stored once.
# Needs root (network namespaces); exits 77 otherwise.
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
[ "$(id -u)" = 0 ] || { echo "needs root for ip netns"; exit 77; }
command -v ip >/dev/null || { echo "needs iproute2"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3 (sqlite3 module)"; exit 77; }

tag=h$$
srv=$tag-srv
work=$(mktemp -d /tmp/haetae-netns-XXXXXX)
server_pid="" a1_pid="" a2_pid=""
cleanup() {
  for pid in $a1_pid $a2_pid $server_pid; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$srv" "$tag-a1" "$tag-a2"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; keep=1; for f in "$work"/*.err; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

ip netns add "$srv" 2>/dev/null || { echo "ip netns add refused (no CAP_SYS_ADMIN?)"; exit 77; }
ip -n "$srv" link set lo up
net=1
for a in a1 a2; do
  ip netns add "$tag-$a"
  ip -n "$tag-$a" link set lo up
  # veth pair: the server's end 10.254.N.1, the agent's 10.254.N.2 (a /30 each)
  ip link add "$tag$a-s" type veth peer name "$tag$a-a"
  ip link set "$tag$a-s" netns "$srv"
  ip link set "$tag$a-a" netns "$tag-$a"
  ip -n "$srv" addr add "10.254.$net.1/30" dev "$tag$a-s"
  ip -n "$tag-$a" addr add "10.254.$net.2/30" dev "$tag$a-a"
  ip -n "$srv" link set "$tag$a-s" up
  ip -n "$tag-$a" link set "$tag$a-a" up
  net=$((net + 1))
done

ip netns exec "$srv" "$bin" server --data "$work/server" --listen 0.0.0.0:8443 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^haetae server: https' "$work/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "server exited"
  sleep 0.1
done
grep -q '^haetae server: https' "$work/server.out" || fail "server did not start"

start_agent() { # name
  ip netns exec "$tag-$1" "$bin" agent --state "$work/$1" --no-defaults --no-journal \
    --interval 3600 --log "$work/$1.log" >>"$work/$1.out" 2>>"$work/$1.err" &
  eval "${1}_pid=$!"
}

net=1
for a in a1 a2; do
  token=$("$bin" server token create --ttl 10m --data "$work/server")
  ip netns exec "$tag-$a" "$bin" enroll --server "https://10.254.$net.1:8443" --token "$token" \
    --state "$work/$a" --hostname "netns-$a" >"$work/$a.enroll" || fail "enroll $a across the veth"
  sed -n 's/.* as agent \([0-9a-f-]*\)$/\1/p' "$work/$a.enroll" >"$work/$a.id"
  touch "$work/$a.log"
  start_agent "$a"
  net=$((net + 1))
done
sleep 1.5

write_lines() { # name from to
  local i
  for ((i = $2; i < $3; i++)); do echo "netns-line $1 $i"; done >>"$work/$1.log"
}
stored() { # name: rows, distinct ids, distinct lines
  python3 - "$work/server/haetae.db" "$(cat "$work/$1.id")" "$1" <<'EOF'
import sqlite3, sys, json
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
rows = db.execute("SELECT id, body FROM events WHERE agent_id = ? AND body LIKE ?",
                  (sys.argv[2], f"%netns-line {sys.argv[3]} %")).fetchall()
print(len(rows), len({i for i, _ in rows}), len({json.loads(b).get("Message") for _, b in rows}))
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

write_lines a1 0 1000
write_lines a2 0 1000
wait_stored a1 1000 120
wait_stored a2 1000 120
echo "netns: 1000 + 1000 events across the veth links"

# Cut a1's link: a1 keeps spooling; a2 is unaffected; then restore it.
ip -n "$tag-a1" link set "${tag}a1-a" down
write_lines a1 1000 3000
write_lines a2 1000 3000
wait_stored a2 3000 120
sleep 2
cut=$(stored a1 | cut -d' ' -f1)
[ "$cut" = 1000 ] || fail "a1 stored $cut events with its link down"
ip -n "$tag-a1" link set "${tag}a1-a" up
wait_stored a1 3000 360
echo "netns: a1's link cut and restored: 3000 stored exactly once"
kill -INT "$a1_pid" "$a2_pid"
wait "$a1_pid" || fail "a1 did not stop cleanly"
wait "$a2_pid" || fail "a2 did not stop cleanly"
a1_pid="" a2_pid=""
echo "netns: ok"
