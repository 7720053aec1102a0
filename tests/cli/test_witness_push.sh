#!/usr/bin/env bash
# A log and a witness talking c2sp.org/tlog-witness over HTTPS on loopback:
# `haetae server --witness URL=VKEY=PIN` pushes each signed checkpoint to
# `haetae witness serve`, stores the cosignature and serves the cosigned
# checkpoint, which verifies with --witness. A restarted server (which has
# forgotten the witness's size) gets 409 with the witness's size and pushes
# again with the right old size. A fork (an old backup grown with other
# entries) is refused: no cosignature. The auditor's side runs through the
# same servers: `ledger audit --server` passes on the honest log, keeps its
# state, and fails on the rollback, the fork, an unrelated log and a log
# without a checkpoint; `ledger verify --dir` runs beside the live server.
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
command -v curl >/dev/null || { echo "needs curl"; [ "${CI:-}" = true ] && exit 1; exit 77; }

agent_pid="" witness_pid=""
# shellcheck source=tests/fixtures/server_lib.sh
. "$(dirname "$0")/../fixtures/server_lib.sh" wpush
get() { curl -sf --cacert "$data/tls/server.crt" "$url/api/v1/ledger/$1" 2>/dev/null || true; }
# Waits until the served cosigned checkpoint is larger than $1; prints its size.
wait_cosigned_above() {
  for _ in $(seq 1 150); do
    s=$(get checkpoint/cosigned | sed -n 2p)
    [ -n "$s" ] && [ "$s" -gt "$1" ] && { echo "$s"; return 0; }
    sleep 0.2
  done
  return 1
}
wait_size_above() {
  for _ in $(seq 1 150); do
    s=$(get checkpoint | sed -n 2p)
    [ -n "$s" ] && [ "$s" -gt "$1" ] && { echo "$s"; return 0; }
    sleep 0.2
  done
  return 1
}

# The log's key exists from the first start; the witness is told it.
data=$work/server
start_server "$data"
stop_server
log_key=$data/ledger/key.vkey
origin=$(sed 's/+.*//' "$log_key")
case "$origin" in haetae.local/????????????????) ;; *) fail "default origin '$origin'";; esac

"$bin" witness keygen --name witness.example/w1 --out w.skey >w.vkey
"$bin" witness serve --listen 127.0.0.1:0 --state wstate --key w.skey --log "$origin=$(cat "$log_key")" \
  >witness.out 2>witness.err &
witness_pid=$!; extra_pids="$witness_pid"
wurl=""
for _ in $(seq 1 100); do
  wurl=$(sed -n 's/^haetae witness: //p' witness.out 2>/dev/null || true)
  [ -n "$wurl" ] && break
  sleep 0.1
done
[ -n "$wurl" ] || fail "witness did not start"
wpin=$(sed -n 's/^  pin: //p' witness.out)
wspec="$wurl=$(cat w.vkey)=$wpin"

start_server "$data" --witness "$wspec"
make_incident "$data" push-host

# Pushed and cosigned: the served checkpoint carries the witness's line.
c1=$(wait_cosigned_above 0) || fail "no cosigned checkpoint: $(cat server.err)"
get checkpoint/cosigned >cos1
"$bin" ledger verify --checkpoint cos1 --key "$log_key" --witness w.vkey >verify1.txt \
  || fail "verify cos1: $(cat verify1.txt)"
grep -q 'cosignature witness.example/w1: valid, witnessed at' verify1.txt || fail "cos1: $(cat verify1.txt)"
get "checkpoint/$c1" | cmp -s - cos1 || fail "checkpoint/$c1 is not the cosigned one"
[ "$(sed -n 2p wstate/*.checkpoint)" = "$c1" ] || fail "witness state"
# Proofs come with the cosigned checkpoint.
get proof/inclusion/0 >p0
sed '1,/^$/d' p0 | grep -q '^— witness.example/w1 ' || fail "inclusion proof without the cosignature: $(cat p0)"
get "proof/inclusion/0/$c1" | cmp -s - p0 || fail "proof against checkpoint $c1"
# The auditor holds cos1; the local audit runs beside the live server.
"$bin" ledger verify --dir "$data/ledger" --checkpoint cos1 --witness w.vkey >audit-live.txt \
  || fail "audit beside the server: $(cat audit-live.txt)"
# The earliest witnessed time of entry 0, read beside the live server.
"$bin" ledger prove --dir "$data/ledger" --index 0 --witness w.vkey --out p0.local >prove.txt \
  || fail "prove --witness: $(cat prove.txt)"
grep -q "^entry 0 existed by 20[0-9-]*T[0-9:.]*Z, cosigned by witness.example/w1 (checkpoint of size [0-9]*)$" prove.txt \
  || fail "witnessed time: $(cat prove.txt)"
"$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --checkpoint cos1 --state audit.state \
  >audit1.txt || fail "remote audit: $(cat audit1.txt)"
cmp -s audit.state cos1 || [ "$(sed -n 2p audit.state)" -ge "$c1" ] || fail "audit state"

# Restarted, the server has forgotten the witness's size: 409, then the right old size.
stop_server
cp -a "$data" backup
start_server "$data" --witness "$wspec"
"$bin" incident set "$id" kind=intrusion --data "$data" >/dev/null || fail "incident set"
c2=$(wait_cosigned_above "$c1") || fail "no cosignature after restart: $(tail -5 server.err)"
grep -q "holds $c1 entries, not 0; pushing again" server.err || fail "no 409 retry: $(tail -5 server.err)"
grep -q 'add-checkpoint refused (409)' witness.err || fail "the witness did not answer 409"
get checkpoint/cosigned >cos2
"$bin" ledger verify --checkpoint cos2 --key "$log_key" --witness w.vkey >/dev/null || fail "verify cos2"
"$bin" ledger audit --server "$url" --ca "$data/tls/server.crt" --key "$log_key" --checkpoint cos1 \
  --state audit.state >audit2.txt || fail "remote audit 2: $(cat audit2.txt)"
[ "$(sed -n 2p audit.state)" -ge "$c2" ] || fail "audit state did not move to $c2"
stop_server
# The incident's timeline proofs embed the cosigned checkpoint.
"$bin" incident timeline "$id" --proofs --out tl --data "$data" >/dev/null || fail "timeline --proofs"
first_proof=$(ls tl/*.proof | head -1)
[ -n "$first_proof" ] || fail "no timeline proofs"
sed '1,/^$/d' "$first_proof" | grep -q '^— witness.example/w1 ' || fail "timeline proof not cosigned: $(cat "$first_proof")"

# Rolled back: the old backup serves a smaller tree than the auditor holds.
data=$work/backup
start_server "$data"
if "$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --state audit.state >rb.txt 2>rb.err; then
  fail "remote audit passed a rollback"
fi
grep -q 'audit.state: held checkpoint of size .*: the log was rolled back' rb.err || fail "rollback: $(cat rb.err)"

# Forked: the backup grows with other entries past the witness's tree.
n=0
while :; do
  s=$(get checkpoint | sed -n 2p)
  [ "$s" -gt "$c2" ] && break
  n=$((n + 1)); [ "$n" -le 40 ] || fail "the fork did not grow past $c2"
  "$bin" incident set "$id" cause="fork$n" --data "$data" >/dev/null || fail "fork entry"
  wait_size_above "$s" >/dev/null || fail "fork did not grow"
done
if "$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --checkpoint cos2 >fork.txt 2>fork.err; then
  fail "remote audit passed a fork"
fi
grep -q 'cos2: held checkpoint of size .*does not extend it (rewritten)' fork.err || fail "fork audit: $(cat fork.err)"
stop_server
start_server "$data" --witness "$wspec"
for _ in $(seq 1 50); do grep -q 'add-checkpoint refused (422)' witness.err && break; sleep 0.2; done
grep -q 'add-checkpoint refused (422)' witness.err || fail "the witness did not refuse the fork: $(tail -5 witness.err)"
[ "$(sed -n 2p wstate/*.checkpoint)" = "$c2" ] || fail "the witness state moved on a fork"
cosigned_now=$(get checkpoint/cosigned | sed -n 2p)
[ "${cosigned_now:-0}" -le "$c1" ] || fail "the fork got a cosignature ($cosigned_now)"
stop_server

# An unrelated log (another server, its own key, one incident logged), and
# a log with no checkpoint yet.
data=$work/other
start_server "$data"
token=$("$bin" server token create --ttl 10m --data "$data")
"$bin" enroll --server "$url" --token "$token" --state agent2 --hostname other-host >/dev/null || fail "enroll 2"
"$bin" agent --state agent2 --no-defaults --no-journal --interval 3600 --log agent.log >agent2.out 2>agent2.err &
agent_pid=$!; extra_pids="$agent_pid $witness_pid"
wait_size_above 0 >/dev/null || fail "the unrelated log signed nothing"
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
if "$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --checkpoint cos1 >un.txt 2>un.err; then
  fail "remote audit passed an unrelated log"
fi
grep -q 'no signature from a known key' un.err || fail "unrelated: $(cat un.err)"
if "$bin" ledger audit --server "$url" --pin "$pin" --key "$data/ledger/key.vkey" --checkpoint cos1 >un2.txt 2>un2.err; then
  fail "remote audit passed an unrelated log under its own key"
fi
grep -q 'cos1: .*no signature from a known key' un2.err || fail "unrelated, own key: $(cat un2.err)"
stop_server
data=$work/empty
start_server "$data"
if "$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --checkpoint cos1 >none.txt 2>none.err; then
  fail "remote audit passed a log without a checkpoint"
fi
grep -q 'HTTP 404' none.err || fail "no checkpoint: $(cat none.err)"
# Under a witness policy the audit extends from the cosigned checkpoint.
stop_server
data=$work/server
start_server "$data" --witness "$wspec"
"$bin" ledger audit --server "$url" --pin "$pin" --key "$log_key" --witness w.vkey --checkpoint cos2 >wp.txt \
  || fail "audit with --witness: $(cat wp.txt)"
stop_server
echo "witness push: ok (cosigned $c1, then $c2 after a 409; rollback, fork and unrelated log refused)"
