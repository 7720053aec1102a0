#!/usr/bin/env bash
# haetae ledger and haetae witness end to end: a log, checkpoints, proofs
# verified from files alone, a witness cosigning, tampering and a rollback
# rejected, and the tlog-tiles export.
set -euo pipefail
bin=${HAETAE_BIN:?set HAETAE_BIN}
work=$(mktemp -d /tmp/haetae-ledger-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() { if "$@" >out.txt 2>err.txt; then fail "succeeded: $*"; fi; }

"$bin" ledger init --dir log --name example.com/haetae >log.vkey
grep -q '^example.com/haetae+[0-9a-f]\{8\}+' log.vkey || fail "vkey format: $(cat log.vkey)"
expect_fail "$bin" ledger init --dir log --name example.com/haetae

for i in $(seq 0 9); do printf 'entry %d' "$i" >"e$i"; done
for i in 0 1 2 3 4; do [ "$("$bin" ledger append --dir log "e$i")" = "$i" ] || fail "index of e$i"; done
"$bin" ledger checkpoint --dir log >cp5
sed -n 2p cp5 | grep -qx 5 || fail "checkpoint size: $(cat cp5)"
for i in 5 6 7 8 9; do "$bin" ledger append --dir log "e$i" >/dev/null; done
printf '{"Image":"/tmp/x"}' | "$bin" ledger append --dir log --kind alert --meta rule=test.rule - >/dev/null
"$bin" ledger checkpoint --dir log >cp11

# Inclusion and consistency, verified without the log.
"$bin" ledger prove --dir log --entry e3 --out p3
head -1 p3 | grep -qx 'c2sp.org/tlog-proof@v1' || fail "proof header"
"$bin" ledger prove --dir log --from 5 --out c5
"$bin" ledger verify --checkpoint cp11 --key log.vkey --proof p3 --entry e3 \
  --old-checkpoint cp5 --consistency c5 >out.txt || fail "verify: $(cat out.txt)"
grep -q 'is entry 3' out.txt || fail "verify output: $(cat out.txt)"
"$bin" ledger prove --dir log --index 7 --size 5 --out bad 2>/dev/null && fail "proved index 7 in a tree of 5"
"$bin" ledger verify --checkpoint cp5 --key "$(cat log.vkey)" >/dev/null || fail "inline vkey"

# Wrong entry, wrong key, edited checkpoint, swapped checkpoints: all fail.
expect_fail "$bin" ledger verify --checkpoint cp11 --key log.vkey --proof p3 --entry e4
"$bin" ledger init --dir other --name example.com/haetae >other.vkey
expect_fail "$bin" ledger verify --checkpoint cp11 --key other.vkey
sed '2s/11/12/' cp11 >cp11.edited
expect_fail "$bin" ledger verify --checkpoint cp11.edited --key log.vkey
expect_fail "$bin" ledger verify --checkpoint cp5 --key log.vkey --old-checkpoint cp11 --consistency c5

# Stored bytes flipped: the audit names the damage.
"$bin" ledger verify --checkpoint cp11 --key log.vkey --dir log | grep -q 'storage intact' || fail "audit"
cp -r log log.bak
printf 'X' | dd of=log/entries bs=1 seek=4 conv=notrunc status=none
expect_fail "$bin" ledger verify --checkpoint cp11 --key log.vkey --dir log
grep -q 'entry 0' err.txt || fail "audit message: $(cat err.txt)"
rm -rf log && mv log.bak log

# A witness cosigns, follows the log forward, and refuses to go back.
"$bin" witness keygen --name witness.example/w1 --out w.skey >w.vkey
"$bin" witness cosign --state wstate --key w.skey --log-key log.vkey --checkpoint cp5 --out cos5
"$bin" witness cosign --state wstate --key w.skey --log-key log.vkey --checkpoint cp11 --proof c5 --out cos11
"$bin" ledger verify --checkpoint cos11 --key log.vkey --key w.vkey >out.txt
grep -q 'cosignature witness.example/w1: valid, witnessed at' out.txt || fail "cosignature: $(cat out.txt)"
expect_fail "$bin" witness cosign --state wstate --key w.skey --log-key log.vkey --checkpoint cp5
grep -q 'older' err.txt || fail "rollback message: $(cat err.txt)"
expect_fail "$bin" witness cosign --state wstate --key w.skey --log-key other.vkey --checkpoint cp11

# The static tiles tree.
"$bin" ledger export --dir log --out tiles >/dev/null
[ -f tiles/checkpoint ] && [ -f tiles/tile/0/000.p/11 ] && [ -f tiles/tile/entries/000.p/11 ] || fail "tiles: $(find tiles)"
[ "$(stat -c %s tiles/tile/0/000.p/11)" = 352 ] || fail "tile size"
cmp -s tiles/checkpoint cp11 || fail "exported checkpoint"
echo "ledger CLI: ok"
