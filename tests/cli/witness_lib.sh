# Shared by tests/cli/test_witness_*.sh (sourced, not a test): a scratch
# directory cleaned at exit, and a real `haetae server` on loopback.
# The caller sets bin and the pids it starts in extra_pids.
work=$(mktemp -d "/tmp/haetae-${1:-witness}-XXXXXX")
server_pid="" extra_pids=""
cleanup() {
  for pid in $extra_pids $server_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; keep=1; tail -20 "$work"/*.err 2>/dev/null || true; exit 1; }
export HAETAE_POLICIES_DIR=$HAETAE_SOURCE_DIR/policies
cd "$work"

url="" pin=""
start_server() { # data dir, extra server options...
  local dir=$1; shift
  "$bin" server --data "$dir" --listen 127.0.0.1:0 "$@" >server.out 2>>server.err &
  server_pid=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^haetae server: \(https:[^ ]*\)$/\1/p' server.out 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || fail "server did not start"
  pin=$(sed -n 's/^  pin: //p' server.out | head -1)
  [ -n "$pin" ] || fail "server printed no pin"
}
stop_server() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}
