#!/usr/bin/env bash
# `haetae ledger verify --dir LOG --checkpoint HELD...` as an auditor runs
# it: the log's tree must extend every checkpoint the auditor holds. A log
# rewritten and re-signed with its own key, one rolled back below a held
# checkpoint, an unrelated log and a log missing a file each fail, naming
# the held checkpoint; the audit never writes to the log it reads (a torn
# tail stays, no lock file appears).
set -euo pipefail
bin=${HAETAE_BIN:?HAETAE_BIN must name the haetae binary}
work=$(mktemp -d /tmp/haetae-audit-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
expect_fail() { # what, command...
  local what=$1; shift
  if "$@" >out.txt 2>err.txt; then fail "$what: accepted: $(cat out.txt)"; fi
}
append() { # dir, count, prefix
  for i in $(seq 1 "$2"); do printf '%s-%s' "$3" "$i" >e; "$bin" ledger append --dir "$1" e >/dev/null; done
}

"$bin" ledger init --dir log --name audit.example/log >log.vkey
append log 3 a
"$bin" ledger checkpoint --dir log >held3
append log 4 a
"$bin" ledger checkpoint --dir log >held7
append log 2 a
"$bin" ledger checkpoint --dir log >/dev/null

"$bin" ledger verify --dir log --checkpoint held3 --checkpoint held7 >out.txt || fail "honest log: $(cat out.txt)"
grep -q 'log log: 9 entries audited, checkpoint audit.example/log size 9, storage intact' out.txt \
  || fail "audit output: $(cat out.txt)"
grep -q 'extends held3 (size 3)' out.txt && grep -q 'extends held7 (size 7)' out.txt || fail "held: $(cat out.txt)"
"$bin" ledger verify --dir log --checkpoint held7 --key log.vkey >/dev/null || fail "with --key"

# Read-only: a torn tail past the commit point stays, nothing is created.
printf 'torn' >>log/entries
rm -f log/lock
before=$(cd log && find . -type f -printf '%p %s %T@\n' | sort | sha256sum)
"$bin" ledger verify --dir log --checkpoint held7 >/dev/null || fail "torn tail: audit failed"
after=$(cd log && find . -type f -printf '%p %s %T@\n' | sort | sha256sum)
[ "$before" = "$after" ] || fail "the audit changed the log"
[ ! -e log/lock ] || fail "the audit created a lock file"

# Rewritten: the operator rebuilds the log with other entries and re-signs
# it with the log's own key.
mkdir rewritten && cp log/key log/key.vkey rewritten/
append rewritten 1 a
append rewritten 8 b
"$bin" ledger checkpoint --dir rewritten >/dev/null
expect_fail rewrite "$bin" ledger verify --dir rewritten --checkpoint held3
grep -q 'held3: held checkpoint of size 3: .*does not extend it (rewritten)' err.txt || fail "rewrite: $(cat err.txt)"
# ... rewritten to the same size: another tree of that size.
mkdir same && cp log/key log/key.vkey same/
append same 3 c
"$bin" ledger checkpoint --dir same >/dev/null
expect_fail "same-size rewrite" "$bin" ledger verify --dir same --checkpoint held3
grep -q 'another tree of that size' err.txt || fail "same size: $(cat err.txt)"

# Rolled back below a held checkpoint (re-signed with the log's key).
mkdir rolled && cp log/key log/key.vkey rolled/
append rolled 5 a
"$bin" ledger checkpoint --dir rolled >/dev/null
expect_fail rollback "$bin" ledger verify --dir rolled --checkpoint held3 --checkpoint held7
grep -q 'held7: held checkpoint of size 7: the log was rolled back to 5 entries' err.txt || fail "rollback: $(cat err.txt)"

# An unrelated log with one entry: its own key, its own origin.
"$bin" ledger init --dir other --name audit.example/log >/dev/null
append other 1 z
"$bin" ledger checkpoint --dir other >/dev/null
expect_fail "unrelated log" "$bin" ledger verify --dir other --checkpoint held3
grep -q 'held3: .*no signature from a known key' err.txt || fail "unrelated: $(cat err.txt)"
expect_fail "unrelated log, auditor's key" "$bin" ledger verify --dir other --checkpoint held3 --key log.vkey
grep -q 'other: .*no signature from a known key' err.txt || fail "unrelated with key: $(cat err.txt)"

# Missing files.
for f in checkpoint key.vkey tree state entries; do
  rm -rf miss && cp -a log miss && rm miss/$f
  expect_fail "missing $f" "$bin" ledger verify --dir miss --checkpoint held3
  grep -q "miss/$f" err.txt || fail "missing $f message: $(cat err.txt)"
  [ ! -e miss/$f ] || fail "the audit recreated $f"
done
expect_fail "no directory" "$bin" ledger verify --dir nowhere --checkpoint held3
[ ! -e nowhere ] || fail "the audit created the directory"

# Witness policy: a required witness that did not cosign fails.
"$bin" witness keygen --name witness.example/w1 --out w.skey >w.vkey
expect_fail "absent cosignature" "$bin" ledger verify --checkpoint held7 --key log.vkey --key w.vkey
grep -q 'absent or invalid: witness.example/w1' err.txt || fail "absent: $(cat err.txt)"
expect_fail "absent cosignature, --witness" "$bin" ledger verify --checkpoint held7 --key log.vkey --witness w.vkey
"$bin" witness cosign --state ws --key w.skey --log-key log.vkey --checkpoint held7 --out cos7
"$bin" ledger verify --checkpoint cos7 --key log.vkey --witness w.vkey >/dev/null || fail "cosigned"
"$bin" witness keygen --name witness.example/w2 --out w2.skey >w2.vkey
expect_fail "quorum 2" "$bin" ledger verify --checkpoint cos7 --key log.vkey --witness w.vkey --witness w2.vkey
"$bin" ledger verify --checkpoint cos7 --key log.vkey --witness w.vkey --witness w2.vkey --quorum 1 >/dev/null \
  || fail "quorum 1 of 2"
"$bin" ledger verify --dir log --checkpoint cos7 --witness w.vkey >/dev/null || fail "held cosigned"
echo "ledger audit: ok"
