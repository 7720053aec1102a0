#!/usr/bin/env bash
# `haetae scan` end to end: summary, masked findings, subjects, exit status.
set -euo pipefail
bin=${HAETAE_BIN:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'name,주민등록번호,phone\nkim,900101-1234568,010-2345-6789\n' > "$dir/users.csv"
# personal data found: exit 1
status=0
out=$("$bin" scan --format jsonl --findings "$dir/f.jsonl" --subjects "$dir/s.jsonl" "$dir/users.csv") || status=$?
[ "$status" = 1 ] || { echo "exit status $status with a person found, want 1"; exit 1; }
grep -q '"persons":1,' <<<"$out" || { echo "summary: $out"; exit 1; }
grep -q '900101-1\*\*\*\*\*\*' "$dir/f.jsonl" || { echo "findings not masked"; exit 1; }
! grep -q '1234568' "$dir/f.jsonl" "$dir/s.jsonl" || { echo "identifier in the clear"; exit 1; }
[ "$(stat -c %a "$dir/s.jsonl")" = 600 ] || { echo "subjects file not private"; exit 1; }
# a binary file is skipped with a note, and the exit status says so
printf 'x\0y 900101-1234568' > "$dir/blob.bin"
set +e
"$bin" scan --format table "$dir" > "$dir/table.txt"
status=$?
set -e
[ "$status" = 3 ] || { echo "exit status $status with input not fully read, want 3"; exit 1; }
grep -q 'binary file skipped' "$dir/table.txt" || { cat "$dir/table.txt"; exit 1; }
grep -q '^rrn ' "$dir/table.txt" || { cat "$dir/table.txt"; exit 1; }
# standard input and usage errors
{ printf 'call 010-2345-6789\n' | "$bin" scan --format csv - || true; } | grep -q '^phone,1,' || { echo "stdin"; exit 1; }
# nothing personal: exit 0
printf 'nothing to see\n' >"$dir/plain.txt"
"$bin" scan --format jsonl "$dir/plain.txt" >/dev/null || { echo "clean file: exit $?"; exit 1; }
set +e
"$bin" scan --format nope "$dir" 2>/dev/null
[ $? = 2 ] || { echo "usage error not 2"; exit 1; }
"$bin" scan --threads 0 "$dir" 2>/dev/null
[ $? = 2 ] || { echo "--threads 0 not a usage error"; exit 1; }
"$bin" scan --min-confidence 2 "$dir" 2>/dev/null
[ $? = 2 ] || { echo "--min-confidence 2 not a usage error"; exit 1; }
"$bin" scan 2>/dev/null
[ $? = 2 ] || { echo "no PATH not a usage error"; exit 1; }
set -e
echo "scan: ok"
