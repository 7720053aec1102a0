#!/usr/bin/env bash
# haetae hunt and haetae rules check through the real binary: syslog
# (auth.log), auditd and JSON lines inputs, jsonl and table output, a
# correlation across lines, malformed lines counted and skipped, stdin.
set -euo pipefail
bin=${HAETAE_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/rules.yml" <<'YML'
title: SSH failed password
id: 11111111-1111-4111-8111-111111111111
name: ssh_failed
level: low
tags: [attack.credential-access]
logsource: {product: linux, service: auth}
detection:
  sel:
    Message|contains: 'Failed password'
  condition: sel
---
title: SSH brute force
id: 22222222-2222-4222-8222-222222222222
level: high
correlation:
  type: event_count
  rules: [ssh_failed]
  group-by: [Hostname]
  timespan: 5m
  condition: {gte: 3}
  generate: true
---
title: Shell from web server
id: 33333333-3333-4333-8333-333333333333
level: critical
logsource: {product: linux, category: process_creation}
detection:
  sel:
    ParentImage|endswith: [/httpd, /nginx]
    Image|endswith: /sh
  condition: sel
---
title: auditd execve of nc
id: 44444444-4444-4444-8444-444444444444
level: medium
logsource: {product: linux}
detection:
  sel:
    type: EXECVE
    a0: nc
  condition: sel
YML

cat >"$tmp/auth.log" <<'LOG'
Nov 22 10:00:01 web1 sshd[100]: Failed password for root from 203.0.113.5 port 4000 ssh2
Nov 22 10:00:02 web1 sshd[100]: Failed password for root from 203.0.113.5 port 4001 ssh2
Nov 22 10:00:03 web1 sshd[100]: Failed password for root from 203.0.113.5 port 4002 ssh2
Nov 22 10:00:04 web1 sshd[100]: Accepted password for root from 203.0.113.5 port 4003 ssh2
LOG
cat >"$tmp/audit.log" <<'LOG'
type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="nc" a1="-e" a2="/bin/sh"
LOG
cat >"$tmp/events.jsonl" <<'LOG'
{"logsource":{"product":"linux","category":"process_creation"},"Image":"/bin/sh","ParentImage":"/usr/sbin/nginx"}
{"logsource":{"product":"linux","category":"process_creation"},"Image":"/bin/ls","ParentImage":"/usr/sbin/nginx"}
{"broken json
LOG

out=$("$bin" hunt --rules "$tmp/rules.yml" --format jsonl "$tmp/auth.log" "$tmp/audit.log" "$tmp/events.jsonl" 2>"$tmp/err") && fail "hunt should exit 1 on matches"
echo "$out" >"$tmp/out"
[ "$(grep -c '"rule_id":"11111111' "$tmp/out")" = 3 ] || fail "3 failed-password matches expected: $out"
grep -q '"rule_id":"22222222.*"correlation":{"group":"web1","count":3' "$tmp/out" || fail "brute force correlation: $out"
grep -q '"rule_id":"33333333.*"source":{"file":"[^"]*events.jsonl","line":1}' "$tmp/out" || fail "web shell match with source line: $out"
grep -q '"rule_id":"44444444.*"tags":\[\]' "$tmp/out" || fail "auditd match: $out"
[ "$(wc -l <"$tmp/out")" = 6 ] || fail "exactly 6 matches expected: $out"
grep -q 'events.jsonl:3: skipped' "$tmp/err" || fail "malformed line reported: $(cat "$tmp/err")"
grep -q '1 malformed lines skipped' "$tmp/err" || fail "malformed count: $(cat "$tmp/err")"

table=$("$bin" hunt --rules "$tmp/rules.yml" --format table - <"$tmp/auth.log" 2>/dev/null) || true
echo "$table" | grep -qE '^high +1  SSH brute force \(correlation\)' || fail "table: $table"
echo "$table" | grep -qE '^low +3  SSH failed password' || fail "table: $table"

none=$("$bin" hunt --rules "$tmp/rules.yml" --format jsonl /dev/null 2>/dev/null) || fail "no match should exit 0"
[ -z "$none" ] || fail "no output expected"

printf 'title: bad\ndetection:\n  sel:\n    A|contians: x\n  condition: sel\n' >"$tmp/bad.yml"
check=$("$bin" rules check "$tmp/rules.yml" "$tmp/bad.yml") && fail "rules check should exit 1 on invalid"
echo "$check" | grep -q "invalid      $tmp/bad.yml:4: unknown modifier 'contians' (did you mean 'contains'?)" || fail "check: $check"
echo "$check" | tail -1 | grep -qx '4 compiled, 0 unsupported, 1 invalid' || fail "summary: $check"
echo "hunt: ok"
