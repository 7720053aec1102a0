#!/usr/bin/env bash
# End to end, as root: `haetae agent --once` must report
#  - a process holding an AF_PACKET socket with a BPFDoor-style filter while
#    calling itself "dbus-daemon --system": its pid, the filter, the magic;
#  - a binary copied to /dev/shm, run, then deleted from disk.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "needs root (packet sockets, other processes)"; exit 77; fi
: "${HAETAE_BIN:?}" "${HAETAE_TEST_BIN_DIR:?}"

work=$(mktemp -d /tmp/haetae-once-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" /dev/shm/haetae-test-sleeper-$$
}
trap cleanup EXIT

# 1. the BPFDoor mimic: prints "ready <pid>" once its filter is attached
"$HAETAE_TEST_BIN_DIR/prog_bpfdoor_mimic" >"$work/mimic.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$work/mimic.out" 2>/dev/null && break; sleep 0.05; done
mimic=$(awk '/^ready/{print $2}' "$work/mimic.out")
[ -n "$mimic" ] || { echo "mimic did not start"; exit 1; }

# 2. a binary run from /dev/shm and deleted
cp /bin/sleep "/dev/shm/haetae-test-sleeper-$$"
"/dev/shm/haetae-test-sleeper-$$" 300 &
shm=$!
pids+=($shm)
sleep 0.2
rm -f "/dev/shm/haetae-test-sleeper-$$"

# Findings above informational: exit 1 (done, something found).
once_status=0
"$HAETAE_BIN" agent --once --format jsonl --no-defaults --no-journal --state "$work/state" \
  >"$work/findings.jsonl" || once_status=$?
[ "$once_status" -eq 1 ] || { echo "agent --once with critical findings exited $once_status, not 1"; exit 1; }
echo "agent --once: $(wc -l <"$work/findings.jsonl") findings"

expect() { # rule pid [extra grep]
  local rule=$1 pid=$2 extra=${3:-}
  local lines
  lines=$(grep "\"rule\":\"$rule\"" "$work/findings.jsonl" | grep -E "\"ProcessId\":$pid[,}]" || true)
  if [ -n "$extra" ]; then lines=$(grep -e "$extra" <<<"$lines" || true); fi
  if [ -z "$lines" ]; then
    echo "MISSING: $rule for pid $pid ${extra:+with $extra}"
    grep -E "\"ProcessId\":$pid[,}]" "$work/findings.jsonl" | head -5 || true
    return 1
  fi
  echo "found: $rule pid $pid"
}

status=0
expect sock.bpfdoor_magic "$mimic" || status=1
expect sock.packet_filter "$mimic" || status=1
expect proc.masquerade "$mimic" 'dbus-daemon' || status=1
expect proc.deleted_exe "$shm" || status=1
expect proc.tmp_exe "$shm" '/dev/shm/' || status=1

# The table on a terminal-less pipe still works when asked for.
"$HAETAE_BIN" agent --once --format table --no-defaults --no-journal --state "$work/state" \
  >"$work/table.txt" || [ $? -eq 1 ]
grep -q '^critical *sock.bpfdoor_magic' "$work/table.txt" || { echo "table lacks the BPFDoor row"; status=1; }
grep -q 'findings:' "$work/table.txt" || { echo "table lacks the summary"; status=1; }
exit $status
