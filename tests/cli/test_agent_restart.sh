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
# Lines are matched as the log event's Message: the process sensor records
# this script's own commands, whose arguments hold the same words.
spooled() { grep -a -o -- "$(field "$1")" "$state"/spool/*.seg | wc -l; }
field() { case $1 in '"'*) printf '%s' "$1" ;; *) printf '"Message":"%s"' "$1" ;; esac; }
# A line read again after a crash (its position not yet saved) keeps its id,
# so the server stores it once: count distinct ids, not copies.
distinct_ids() {
  python3 - "$(field "$1")" "$state"/spool/*.seg <<'PY'
import re, sys
needle, ids = sys.argv[1].encode(), set()
for path in sys.argv[2:]:
    data = open(path, 'rb').read()
    starts = [m.start() for m in re.finditer(rb'\{"id":"', data)] + [len(data)]
    for a, b in zip(starts, starts[1:]):
        if needle in data[a:b]:
            ids.add(data[a + 7:data.index(b'"', a + 7)])
print(len(ids))
PY
}
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
[ "$(distinct_ids 'line A seen live')" -eq 1 ] || fail "line A has $(distinct_ids 'line A seen live') ids"
[ "$(spooled '"rule":"log.gap"')" -eq 0 ] || fail "a gap was reported where none was"
for line in "line B written while down" "line C last of the old file" "line D first of the new file"; do
  [ "$(distinct_ids "$line")" -eq 1 ] || fail "'$line' has $(distinct_ids "$line") ids"
done
echo "restart after rotation: B, C, D spooled, one id each"
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
