#!/usr/bin/env bash
# The agent reports nothing about itself: `agent --once` run twice in a
# checkout, its output redirected into the checkout, YARA-scanning that
# checkout with the shipped rules, finds nothing in its rules, docs, test
# samples, state or output. A real web shell dropped there is still found,
# and a bad allowlist stops the run with its file and line.
set -euo pipefail
bin=${HAETAE_BIN:?}
src=${HAETAE_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

tree=$tmp/checkout
mkdir "$tree"
for part in rules docs tests bench src README.md; do cp -r "$src/$part" "$tree/"; done
yara=("$tree"/rules/yara/*.yar)
run() {
  "$bin" agent --once --no-defaults --no-journal --state "$tree/var/agent" \
    --scan-dir "$tree" "${yara[@]/#/--yara=}" --allow "$tree/rules/allow" --format jsonl "$@"
}
run >"$tree/findings.jsonl" 2>"$tmp/err1" || true
run >"$tree/findings.jsonl" 2>"$tmp/err2" || true
about_tree=$(grep -F "\"$tree/" "$tree/findings.jsonl" | grep -v '"rule":"agent.allowlisted"' || true)
[ -z "$about_tree" ] || fail "the agent reported its own checkout: $about_tree"
echo "two runs in a checkout: nothing about itself"

mkdir -p "$tree/www/uploads"
printf '<?php @eval($_POST["x"]); ?>\n' >"$tree/www/uploads/x.php"
run >"$tmp/found.jsonl" 2>/dev/null && fail "a web shell was not found (exit 0)"
grep -q '"rule":"yara.match".*www/uploads/x.php' "$tmp/found.jsonl" || fail "web shell not reported: $(cat "$tmp/found.jsonl")"
echo "a web shell in the same checkout: found"

printf -- '- rule: proc.memfd_exe\n  copy_of: [/usr/bin/runc]\n' >"$tmp/bad.yml"
set +e
"$bin" agent --once --no-defaults --no-journal --state "$tmp/st" --allow "$tmp/bad.yml" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "bad allowlist: exit $rc, want 3 ($(cat "$tmp/err"))"
grep -q "bad.yml:1: reason" "$tmp/err" || fail "bad allowlist message: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "bad allowlist: sensors ran anyway: $(cat "$tmp/out")"
echo "bad allowlist: exit 3 naming bad.yml:1"
