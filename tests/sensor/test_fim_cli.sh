#!/usr/bin/env bash
# `haetae fim baseline` / `haetae fim check` end to end through the binary:
# an unchanged tree exits 0 with no findings; a dropped web shell exits 1
# with fim.created and fim.webshell as JSON lines; a bad baseline exits 3
# (input unreadable) naming the file; a missing root exits 3 and writes nothing.
set -euo pipefail
bin=${HAETAE_BIN:?}
dir=$(mktemp -d /tmp/haetae-fim-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/tree/www"
echo '<html></html>' >"$dir/tree/www/index.html"
"$bin" fim baseline --root "$dir/tree" --out "$dir/base.db" --threads 2
"$bin" fim check --root "$dir/tree" --web-root "$dir/tree/www" --baseline "$dir/base.db" >"$dir/out"
[ ! -s "$dir/out" ] || { echo "unexpected findings:"; cat "$dir/out"; exit 1; }
echo '<?php system($_GET[0]); ?>' >"$dir/tree/www/x.php"
status=0
"$bin" fim check --root "$dir/tree" --web-root "$dir/tree/www" --baseline "$dir/base.db" >"$dir/out" || status=$?
[ "$status" -eq 1 ] || { echo "check exit $status, expected 1"; exit 1; }
grep -q '"rule":"fim.webshell"' "$dir/out" || { echo "no fim.webshell:"; cat "$dir/out"; exit 1; }
grep -q '"rule":"fim.created"' "$dir/out" || { echo "no fim.created:"; cat "$dir/out"; exit 1; }
head -c 50 "$dir/base.db" >"$dir/bad.db"
status=0
"$bin" fim check --root "$dir/tree" --baseline "$dir/bad.db" 2>"$dir/err" >/dev/null || status=$?
[ "$status" -eq 3 ] && grep -q "bad.db" "$dir/err" || { echo "bad baseline: exit $status"; cat "$dir/err"; exit 1; }
status=0
"$bin" fim baseline --root "$dir/no-such-tree" --out "$dir/new.db" 2>"$dir/err" || status=$?
[ "$status" -eq 3 ] && grep -q "no-such-tree" "$dir/err" && [ ! -e "$dir/new.db" ] ||
  { echo "missing root: exit $status"; cat "$dir/err"; exit 1; }
echo "fim cli: ok"
