#!/usr/bin/env bash
# The agent killed with SIGKILL and restarted loses no log line: lines
# written while it was down are spooled on restart, a file rotated while it
# was down is finished from its rotated name, and an old file deleted while
# it was down is reported as a log.gap finding.
set -euo pipefail
bin=${HAETAE_BIN:?}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
log=$tmp/app.log
state=$tmp/state

start() {
  "$bin" agent --state "$state" --log "$log" --no-defaults --no-journal --interval 3600 \
    >>"$tmp/agent.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -d "$state/spool" ] && break; sleep 0.1; done
  sleep 1.5 # the log is open and the start-up flush done
}
spooled() { grep -a -c -- "$1" "$state"/spool/*.seg || true; }
wait_spooled() {
  for _ in $(seq 50); do [ "$(spooled "$1")" -ge 1 ] && return 0; sleep 0.1; done
  fail "'$1' never reached the spool; agent said: $(cat "$tmp/agent.out")"
}

: >"$log"
start
echo "line A seen live" >>"$log"
wait_spooled "line A seen live"
sleep 1.2 # a flush, so the position is saved
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=

echo "line B written while down" >>"$log"
echo "line C last of the old file" >>"$log"
mv "$log" "$log.1"
echo "line D first of the new file" >"$log"
start
for line in "line B written while down" "line C last of the old file" "line D first of the new file"; do
  wait_spooled "$line"
done
[ "$(spooled 'line A seen live')" -eq 1 ] || fail "line A spooled $(spooled 'line A seen live') times"
[ "$(spooled '"rule":"log.gap"')" -eq 0 ] || fail "a gap was reported where none was"
echo "restart after rotation: B, C, D spooled once each"
sleep 1.2
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=

echo "line E lost with its file" >>"$log"
rm "$log" "$log.1"
echo "line F after the deletion" >"$log"
start
wait_spooled "line F after the deletion"
wait_spooled '"rule":"log.gap"'
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "deleted while down: log.gap reported"
[ "$(stat -c %a "$state/log-positions")" = 600 ] || fail "log-positions mode $(stat -c %a "$state/log-positions")"
