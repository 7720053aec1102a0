#!/usr/bin/env bash
# `haetae witness pull` against a real server: the witness fetches the
# signed checkpoint and the consistency proof from the ledger API over
# TLS 1.3 with the server's key pinned (or its certificate as the CA),
# cosigns, follows the log as it grows (once, and with --interval until
# SIGINT), and refuses a wrong pin, a checkpoint not signed by the log's
# key, a rolled-back server (an old backup restored) and a forked one (the
# backup grown with other entries).
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
command -v curl >/dev/null || { echo "needs curl"; exit 77; }

pull_pid=""
# shellcheck source=tests/fixtures/server_lib.sh
. "$(dirname "$0")/../fixtures/server_lib.sh" witness
# The size of the server's latest signed checkpoint (0 when none yet).
served_size() {
  curl -sf --cacert "$1/tls/server.crt" "$url/api/v1/ledger/checkpoint" 2>/dev/null | sed -n 2p || true
}
wait_size_above() { # data dir, size
  for _ in $(seq 1 100); do
    s=$(served_size "$1")
    [ -n "$s" ] && [ "$s" -gt "$2" ] && { echo "$s"; return 0; }
    sleep 0.2
  done
  return 1
}
cosigned_size() { sed -n 2p "$1"; }

data=$work/server
start_server "$data"
make_incident "$data" witness-host
size1=$(wait_size_above "$data" 0) || fail "no checkpoint served"

"$bin" witness keygen --name witness.example/regulator --out w.skey >w.vkey
log_key=$data/ledger/key.vkey
pull() { "$bin" witness pull --server "$url" --state wstate --key w.skey --log-key "$log_key" "$@"; }

# First pull: nothing to be consistent with yet.
pull --pin "$pin" --out cos1 2>pull1.err || fail "first pull: $(cat pull1.err)"
c1=$(cosigned_size cos1)
[ "$c1" -ge "$size1" ] || fail "first cosigned size $c1 < $size1"
"$bin" ledger verify --checkpoint cos1 --key "$log_key" --key w.vkey >verify1.txt \
  || fail "verify cos1: $(cat verify1.txt)"
grep -q 'cosignature witness.example/regulator: valid, witnessed at' verify1.txt \
  || fail "cos1 cosignature: $(cat verify1.txt)"

# An old backup of the server as it is now (for the rollback below).
stop_server
cp -a "$data" backup
start_server "$data"

# The log grows; the second pull needs (and checks) a consistency proof.
"$bin" incident set "$id" kind=intrusion sector=telecom --data "$data" >/dev/null || fail "incident set"
wait_size_above "$data" "$c1" >/dev/null || fail "the ledger did not grow past $c1"
pull --ca "$data/tls/server.crt" --out cos2 2>pull2.err || fail "second pull: $(cat pull2.err)"
c2=$(cosigned_size cos2)
[ "$c2" -gt "$c1" ] || fail "second cosigned size $c2 <= $c1"
grep -q "cosigned .* at size $c2 (last $c1)" pull2.err || fail "second pull report: $(cat pull2.err)"
"$bin" ledger verify --checkpoint cos2 --key "$log_key" --key w.vkey >verify2.txt \
  || fail "verify cos2: $(cat verify2.txt)"
grep -q 'cosignature witness.example/regulator: valid, witnessed at' verify2.txt \
  || fail "cos2 cosignature: $(cat verify2.txt)"
# The same proof, fetched by hand, links what the witness cosigned.
curl -sf --cacert "$data/tls/server.crt" "$url/api/v1/ledger/proof/consistency/$c1/$c2" >c12 \
  || fail "consistency proof"
"$bin" ledger verify --checkpoint cos2 --key "$log_key" --old-checkpoint cos1 --consistency c12 \
  >/dev/null || fail "cos1 -> cos2 not consistent"

# Refused: a wrong pin (before anything is sent), a key that is not the log's.
wrong_pin=$(printf '%043d' 0 | tr 0 A)
if pull --pin "$wrong_pin" --out bad 2>pin.err; then fail "pulled with a wrong pin"; fi
grep -qi 'pin\|public key\|ssl' pin.err || fail "wrong pin message: $(cat pin.err)"
"$bin" ledger init --dir other --name "$(head -1 cos2)" >other.vkey
if "$bin" witness pull --server "$url" --pin "$pin" --state wstate --key w.skey \
  --log-key other.vkey --out bad 2>key.err; then fail "cosigned under another log key"; fi
grep -q 'no signature from a known key' key.err || fail "wrong key message: $(cat key.err)"
[ ! -e bad ] || fail "a refused pull wrote its output"

# --interval keeps pulling until SIGINT and follows the growth.
"$bin" witness pull --server "$url" --state wstate --key w.skey --log-key "$log_key" \
  --pin "$pin" --out cos3 --interval 1 2>interval.err &
pull_pid=$!; extra_pids="$pull_pid"
"$bin" incident set "$id" region=kr --data "$data" >/dev/null || fail "incident set region"
c3=$(wait_size_above "$data" "$c2") || fail "the ledger did not grow past $c2"
for _ in $(seq 1 100); do
  [ -s cos3 ] && [ "$(cosigned_size cos3)" -ge "$c3" ] && break
  sleep 0.2
done
[ "$(cosigned_size cos3)" -ge "$c3" ] || fail "--interval did not follow to $c3: $(cat interval.err)"
kill -INT "$pull_pid"
rc=0; wait "$pull_pid" || rc=$?; pull_pid=""
[ "$rc" = 0 ] || fail "--interval exit $rc after SIGINT: $(cat interval.err)"
last=$(cosigned_size cos3)
"$bin" ledger verify --checkpoint cos3 --key "$log_key" --key w.vkey >/dev/null || fail "verify cos3"
stop_server

# Rolled back: the operator restores the old backup to drop entries.
start_server "$work/backup"
rb=$(served_size "$work/backup")
[ -n "$rb" ] && [ "$rb" -lt "$last" ] || fail "backup serves size '$rb', want < $last"
if pull --pin "$pin" --out bad 2>rollback.err; then fail "cosigned a rolled-back checkpoint"; fi
grep -q 'older' rollback.err || fail "rollback message: $(cat rollback.err)"
[ ! -e bad ] || fail "a refused pull wrote its output"

# Forked: the backup grows with other entries past what the witness saw.
n=0
while :; do
  s=$(served_size "$work/backup")
  [ "$s" -gt "$last" ] && break
  n=$((n + 1)); [ "$n" -le 40 ] || fail "the fork did not grow past $last"
  "$bin" incident set "$id" cause="fork$n" --data "$work/backup" >/dev/null || fail "fork entry"
  wait_size_above "$work/backup" "$s" >/dev/null || fail "fork did not grow"
done
if pull --pin "$pin" --out bad 2>fork.err; then fail "cosigned a forked checkpoint"; fi
[ ! -e bad ] || fail "a refused pull wrote its output"
grep -qi 'consisten' fork.err || fail "fork message: $(cat fork.err)"
# The witness's state still holds the newest honest tree it cosigned.
[ "$(sed -n 2p wstate/*.checkpoint)" = "$last" ] || fail "the witness state moved after a refusal"
echo "witness pull: ok (cosigned $c1 -> $c2 -> $last; wrong pin, wrong key, rollback to $rb and fork refused)"
