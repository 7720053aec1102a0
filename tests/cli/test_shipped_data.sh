#!/usr/bin/env bash
# Where the server finds its rules and policies: beside the build tree,
# under an installed prefix (cmake --install), or where the environment
# says; with none found it refuses to start, exit 3, naming every place it
# looked, unless told --no-rules / --no-policies. `haetae up` loads the
# same clocks as `haetae server`.
set -euo pipefail
bin=${HAETAE_BIN:?set HAETAE_BIN}
build=${HAETAE_BUILD_DIR:?set HAETAE_BUILD_DIR}
work=$(mktemp -d /tmp/haetae-shipped-XXXXXX)
pids=""
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
unset HAETAE_RULES_DIR HAETAE_POLICIES_DIR
fail() { echo "FAIL: $*" >&2; tail -5 ./*.err 2>/dev/null || true; exit 1; }

# Runs a server until it logs that it serves, then stops it; its log in $1.err.
serve_once() { # name, binary, options...
    local name=$1 exe=$2; shift 2
    "$exe" "$@" >"$name.out" 2>"$name.err" &
    local pid=$!
    pids="$pids $pid"
    for _ in $(seq 1 300); do
        grep -q '^haetae server: https:\|^URL: ' "$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^haetae server: https:\|^URL: ' "$name.out" || fail "$name did not start"
    kill -INT "$pid"
    wait "$pid" || fail "$name exited $? on SIGINT"
}

# 1. A binary far from any tree finds nothing and says where it looked.
mkdir -p lone/bin
cp "$bin" lone/bin/haetae
rc=0
lone/bin/haetae server --data lone/data --listen 127.0.0.1:0 >lone.out 2>lone.err || rc=$?
[ "$rc" = 3 ] || fail "server without rules exited $rc, want 3"
grep -q "no rules found (looked in $work/lone/bin/../../rules, .*/usr/share/haetae/rules)" lone.err ||
    fail "the refusal does not name where it looked: $(cat lone.err)"
[ ! -e lone/data/haetae.db ] || fail "a refused server created its store"
rc=0
lone/bin/haetae server --data lone/data --listen 127.0.0.1:0 --no-rules >lone.out 2>lone.err || rc=$?
[ "$rc" = 3 ] || fail "server without policies exited $rc, want 3"
grep -q 'no policies found (looked in .*); give --policies DIR' lone.err ||
    fail "the refusal does not name the policies: $(cat lone.err)"
rc=0
HAETAE_POLICIES_DIR=$work/nowhere lone/bin/haetae server --data lone/data --no-rules \
    >lone.out 2>lone.err || rc=$?
[ "$rc" = 3 ] && grep -q "looked in $work/nowhere)" lone.err ||
    fail "a missing HAETAE_POLICIES_DIR is not refused by name (exit $rc)"
serve_once bare lone/bin/haetae server --data lone/data --listen 127.0.0.1:0 --no-rules --no-policies
grep -q 'no policies given' bare.err || fail "--no-policies is not said aloud"

# 2. A policies directory without a policy is refused, not run empty.
mkdir empty
rc=0
"$bin" server --data lone/data --listen 127.0.0.1:0 --policies empty >empty.out 2>empty.err || rc=$?
[ "$rc" != 0 ] && grep -q "policies $work/empty: no \*.json policy files" empty.err ||
    fail "an empty policies directory was accepted (exit $rc)"

# 3. From the build tree: the source tree's rules/sigma and policies.
serve_once tree "$bin" server --data tree --listen 127.0.0.1:0
grep -q "rules from $HAETAE_SOURCE_DIR/rules/sigma (0 unsupported, 0 invalid)" tree.err ||
    fail "the build tree's server did not load rules/sigma: $(grep rules tree.err)"
count=$(ls "$HAETAE_SOURCE_DIR"/policies/*.json | wc -l)
grep -q "$count policy files from $HAETAE_SOURCE_DIR/policies" tree.err ||
    fail "the build tree's server did not load the $count policies"

# 4. Installed under a prefix: PREFIX/share/haetae, nothing from the tree.
cmake --install "$build" --prefix "$work/prefix" >install.out 2>install.err ||
    fail "cmake --install failed"
[ -x prefix/bin/haetae ] && [ -x prefix/bin/haetae-agent ] || fail "binaries not installed"
[ -f prefix/share/haetae/policies/kr.json ] || fail "policies not installed"
serve_once installed prefix/bin/haetae server --data installed --listen 127.0.0.1:0
grep -q "rules from $work/prefix/share/haetae/rules/sigma (0 unsupported, 0 invalid)" installed.err ||
    fail "the installed server did not load its rules: $(grep rules installed.err)"
grep -q "$count policy files from $work/prefix/share/haetae/policies" installed.err ||
    fail "the installed server did not load its policies"

# 5. `haetae up` (what `make run` starts) runs with the clocks.
serve_once up "$bin" up --data up --listen 127.0.0.1:0 --no-agent
grep -q "$count policy files from $HAETAE_SOURCE_DIR/policies" up.err ||
    fail "haetae up runs without the policies: $(cat up.err)"
rc=0
"$bin" up --data up --listen 127.0.0.1:0 --no-agent --policies "$work/nowhere" >up2.out 2>up2.err || rc=$?
[ "$rc" = 3 ] && grep -q -- "--policies $work/nowhere: No such file" up2.err ||
    fail "up with a missing --policies exited $rc"
echo "ok: refused without data (exit 3, places named), build tree, installed prefix, up"
