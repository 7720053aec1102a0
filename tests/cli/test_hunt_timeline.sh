#!/usr/bin/env bash
# haetae hunt's timeline through the real binary: year-less syslog read in
# --tz Asia/Seoul gives the right UTC instants; the table is sorted by time
# and ends with a summary by level and rule; YARA rows carry their rule's
# level; CSV quotes and defuses cells; inputs stream (records cut by the
# reader's blocks are whole, memory stays far below the input's size); a
# bad --tz or --format is a usage error.
set -euo pipefail
bin=${HAETAE_BIN:?}
src=${HAETAE_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
hunt() { "$bin" hunt --rules "$src/rules/sigma" "$@"; }

year=$(TZ=Asia/Seoul date +%Y)
for s in $(seq 10 21); do
  echo "Jan  2 09:13:$s db1 sshd[811]: Failed password for root from 203.0.113.9 port 51122 ssh2"
done >"$tmp/auth.log"
echo "Jan  2 09:14:00 db1 sshd[812]: Accepted password for root from 203.0.113.9 port 51200 ssh2" >>"$tmp/auth.log"

# KST is UTC+9 all year: 09:13:19 in Seoul is 00:13:19 UTC the same day.
rc=0; hunt --tz Asia/Seoul --format jsonl "$tmp/auth.log" >"$tmp/kst.jsonl" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "hunt with matches exits 1, got $rc"
grep -q "\"time\":\"$year-01-02T00:13:19.000000000Z\",\"host\":\"db1\",\"rule_id\":\"6f1f0a10-6b2e-4c52-9a01-550000000003\"" "$tmp/kst.jsonl" \
  || fail "brute force not at 00:13:19 UTC: $(head -c 300 "$tmp/kst.jsonl")"
grep -q '"fields":{"Hostname":"db1","SourceIp":"203.0.113.9"}' "$tmp/kst.jsonl" || fail "no group-by fields"
# Without --tz the same lines are read in the process's zone.
TZ=UTC hunt --format jsonl "$tmp/auth.log" >"$tmp/utc.jsonl" 2>/dev/null || true
grep -q "\"time\":\"$year-01-02T09:13:19" "$tmp/utc.jsonl" || fail "UTC reading moved the time"

# The table: sorted by time across inputs, shown in the display zone, summary last.
cat >"$tmp/early.log" <<'LOG'
192.0.2.5 - - [01/Jan/2020:00:00:00 +0000] "GET /x.php?cmd=id HTTP/1.1" 200 5 "-" "curl/8"
LOG
hunt --tz Asia/Seoul --format table "$tmp/auth.log" "$tmp/early.log" >"$tmp/table.txt" 2>/dev/null || true
head -1 "$tmp/table.txt" | grep -q '^TIME  *HOST  *LEVEL  *RULE  *DETAILS$' || fail "no table header: $(head -1 "$tmp/table.txt")"
sed -n 2p "$tmp/table.txt" | grep -q '^2020-01-01 09:00:00 +0900  -  *critical  *Command passed to a server-side script  *cs-uri-stem=/x.php cs-uri-query=cmd=id' \
  || fail "earliest match not first, or not in KST: $(sed -n 2p "$tmp/table.txt")"
sed -n 3p "$tmp/table.txt" | grep -q "^$year-01-02 09:13:19 +0900  db1  *high  *SSH brute force" || fail "row 2: $(sed -n 3p "$tmp/table.txt")"
grep -q '^critical  *1  SSH login succeeded after a brute force from the same address (correlation)$' "$tmp/table.txt" \
  || fail "no summary line"
tail -1 "$tmp/table.txt" | grep -q '^14 events, 3 matches: 2 critical, 1 high, 0 medium' || fail "totals: $(tail -1 "$tmp/table.txt")"

# YARA rows: the rule's meta severity as the level, the file's mtime as the time.
cat >"$tmp/shell.php" <<'PHP'
<?php @eval(base64_decode($_POST['x'])); ?>
PHP
touch -d '2021-06-01 00:00:00 UTC' "$tmp/shell.php"
"$bin" hunt --yara "$src/rules/yara" --tz UTC --format table "$tmp/shell.php" >"$tmp/yara.txt" 2>/dev/null || true
grep -q '^2021-06-01 00:00:00 +0000  -  *high  *YARA ' "$tmp/yara.txt" || fail "YARA row: $(cat "$tmp/yara.txt")"
"$bin" hunt --yara "$src/rules/yara" --format jsonl "$tmp/shell.php" >"$tmp/yara.jsonl" 2>/dev/null || true
grep -q '"time":"2021-06-01T00:00:00.000000000Z","yara_rule":"[A-Za-z_]*","namespace":"[^"]*","level":"high"' \
  "$tmp/yara.jsonl" || fail "YARA jsonl row: $(cat "$tmp/yara.jsonl")"

# CSV: RFC 4180 quoting; a cell a spreadsheet would evaluate starts with '.
cat >"$tmp/csv.log" <<'LOG'
192.0.2.5 - - [01/Jan/2020:00:00:00 +0000] "GET /a,b.php?cmd==HYPERLINK(\"x\") HTTP/1.1" 200 5 "-" "curl/8"
LOG
hunt --format csv "$tmp/csv.log" >"$tmp/out.csv" 2>/dev/null || true
head -1 "$tmp/out.csv" | grep -qx 'time,host,level,rule,details,file,line' || fail "csv header"
grep -q '^2020-01-01T00:00:00.000000000Z,,critical,Command passed to a server-side script,"cs-uri-stem=/a,b.php cs-uri-query=cmd==HYPERLINK(""x"")",' "$tmp/out.csv" \
  || fail "csv row: $(sed -n 2p "$tmp/out.csv")"
python3 - "$tmp/out.csv" <<'PY' || fail "csv does not parse"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
assert rows[0] == ['time', 'host', 'level', 'rule', 'details', 'file', 'line'], rows[0]
assert all(len(r) == 7 for r in rows), rows
PY

# Streaming: JSON lines far longer than the 1 MiB read block, and a
# pretty-printed object cut by a block boundary, are read whole.
python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
pad = 'x' * (3 << 20)
with open(d + '/long.jsonl', 'w') as f:
    for i in range(3):
        f.write(json.dumps({'logsource': {'product': 'linux', 'category': 'process_creation'},
                            'Image': '/usr/bin/id', 'Pad': pad, 'N': i}) + '\n')
with open(d + '/pretty.json', 'w') as f:
    for i in range(3):
        f.write(json.dumps({'Event': {'System': {'EventID': 1}}, 'Pad': pad, 'N': i}, indent=2) + '\n')
PY
hunt --format jsonl "$tmp/long.jsonl" 2>"$tmp/long.err" >/dev/null || true
grep -q '3 events, .* 0 malformed' "$tmp/long.err" || fail "long lines: $(cat "$tmp/long.err")"
hunt --format jsonl "$tmp/pretty.json" 2>"$tmp/pretty.err" >/dev/null || true
grep -q '3 events, .* 0 malformed' "$tmp/pretty.err" || fail "pretty objects: $(cat "$tmp/pretty.err")"

# Memory: 100 MB of log lines, peak RSS well under the input's size (ASan's
# quarantine of freed memory, 256 MB by default, is turned off to see it).
python3 - "$tmp/big.log" <<'PY'
import sys
line = b'Jan  2 09:13:10 db1 sshd[811]: Connection closed by 198.51.100.1 port 50000 [preauth]\n'
with open(sys.argv[1], 'wb') as f:
    block = line * 10000
    for _ in range(100 * 1000 * 1000 // len(block)):
        f.write(block)
PY
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" \
  /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" hunt --rules "$src/rules/sigma" --format jsonl "$tmp/big.log" >/dev/null 2>&1 || true
rss_kb=$(tail -1 "$tmp/rss")
[ "$rss_kb" -lt 80000 ] || fail "peak RSS ${rss_kb} kB for a 100 MB input: not streaming"

# Usage errors: exit 2 with the option named, nothing on stdout.
rc=0; hunt --tz Mars/Olympus "$tmp/auth.log" >"$tmp/o" 2>"$tmp/e" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--tz: time zone 'Mars/Olympus'" "$tmp/e" && [ ! -s "$tmp/o" ] || fail "bad --tz: rc=$rc $(cat "$tmp/e")"
rc=0; hunt --tz ../../etc/passwd "$tmp/auth.log" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--tz with a path: rc=$rc"
rc=0; hunt --format xml "$tmp/auth.log" >/dev/null 2>"$tmp/e" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--format must be table, jsonl or csv" "$tmp/e" || fail "bad --format: rc=$rc"
# The agent takes the same zone names.
rc=0; "$bin" agent --once --tz Mars/Olympus >/dev/null 2>"$tmp/e" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--tz: time zone 'Mars/Olympus'" "$tmp/e" || fail "agent bad --tz: rc=$rc"
echo PASS
