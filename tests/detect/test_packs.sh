#!/usr/bin/env bash
# The rule packs shipped in rules/sigma: every pack compiles, its positive
# events (rules/sigma/tests/<pack>.positive.*) trigger exactly the rules
# listed in <pack>.expect, and its negative events trigger nothing.
set -euo pipefail
bin=${HAETAE_BIN:?}
src=${HAETAE_SOURCE_DIR:?}
packs="$src/rules/sigma"
fail() { echo "FAIL: $*"; exit 1; }

check=$("$bin" rules check --quiet "$packs") || fail "rules check: $check"
echo "$check" | tail -1 | grep -q ' 0 unsupported, 0 invalid' || fail "rules check: $check"

for expect in "$packs"/tests/*.expect; do
  pack=$(basename "$expect" .expect)
  pos=$(ls "$packs/tests/$pack".positive.*)
  neg=$(ls "$packs/tests/$pack".negative.*)
  got=$("$bin" hunt --rules "$packs/$pack.yml" --format jsonl "$pos" 2>/dev/null |
        grep -o '"rule_id":"[^"]*"' | cut -d'"' -f4 | sort -u) || true
  want=$(sort -u "$expect")
  [ "$got" = "$want" ] || fail "$pack positive: got [$got] want [$want]"
  extra=$("$bin" hunt --rules "$packs/$pack.yml" --format jsonl "$neg" 2>/dev/null) && true
  [ -z "$extra" ] || fail "$pack negative events matched: $extra"
  echo "pack $pack: ok"
done
