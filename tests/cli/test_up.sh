#!/usr/bin/env bash
# `haetae up`: the server on 127.0.0.1 and the local agent enrolled
# in-process; the banner names the URL, the admin token and the data; the
# agent's findings become incidents; Ctrl-C (SIGINT) stops both cleanly; a
# second start on the same address keeps the enrollment.
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
work=$(mktemp -d /tmp/haetae-up-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$work"/out* 2>/dev/null; tail -20 "$work"/err* 2>/dev/null; exit 1; }

start_up() { # listen out-suffix
  (cd "$work" && exec "$bin" up --listen "$1" >"$work/out$2" 2>"$work/err$2") &
  pid=$!
  for _ in $(seq 1 300); do
    grep -q '^Ctrl-C' "$work/out$2" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "haetae up exited early"
    sleep 0.1
  done
  fail "no banner"
}

stop_up() {
  kill -INT "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "haetae up did not stop within 15 s of SIGINT"
  wait "$pid" || fail "haetae up exited with $? after SIGINT"
  pid=""
}

start_up 127.0.0.1:0 1
url=$(sed -n 's/^URL: *//p' "$work/out1")
token=$(sed -n 's/^token: *\([^ ]*\).*/\1/p' "$work/out1")
data=$(sed -n 's/^data: *\([^ ]*\).*/\1/p' "$work/out1")
[[ "$url" == https://127.0.0.1:* ]] || fail "URL '$url'"
[ "$data" = "$work/var/server" ] || fail "data '$data' is not under ./var"
[ "$token" = "$(cat "$work/var/server/admin.token")" ] || fail "printed token is not admin.token"
grep -q '^agent:  enrolled as' "$work/out1" || fail "the local agent was not enrolled"
[ -f "$work/var/agent/server.json" ] || fail "no var/agent/server.json"

# The agent's start finding travels to the server and becomes an incident.
for _ in $(seq 1 150); do
  incidents=$("$bin" incident list --format json --data "$work/var/server" | grep -c '"state"' || true)
  [ "$incidents" -ge 1 ] && break
  sleep 0.2
done
[ "$incidents" -ge 1 ] || fail "no incident from the local agent's findings"
stop_up
grep -q "stopping" "$work/err1" || fail "no word on stopping"

# Same address again: the enrollment stands, nothing is re-enrolled.
start_up "${url#https://}" 2
grep -q '^agent:  enrolled as' "$work/out2" && fail "re-enrolled although nothing changed"
stop_up
echo "up: ok ($incidents incidents)"
