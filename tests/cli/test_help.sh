#!/usr/bin/env bash
# The command line contract of every command and subcommand: --help and -h
# print a usage text on stdout and exit 0 without touching the disk; an
# unknown option exits 2 naming it on stderr; an option missing its value
# exits 2 naming the option; a command the dispatcher does not know exits 2.
set -euo pipefail
bin=${HAETAE_BIN:?set HAETAE_BIN}
work=$(mktemp -d /tmp/haetae-help-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Every command named in `haetae --help` is checked, so a new command
# cannot skip the contract; the ones below must be there.
"$bin" --help >top.out 2>top.err || fail "haetae --help exited $?"
"$bin" help >help.out 2>/dev/null || fail "haetae help exited $?"
cmp -s top.out help.out || fail "'haetae help' and 'haetae --help' differ"
"$bin" -h >h.out 2>/dev/null || fail "haetae -h exited $?"
cmp -s top.out h.out || fail "'haetae -h' and 'haetae --help' differ"
mapfile -t commands < <(sed -n '/^commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' top.out)
for expected in agent alert enroll fim hunt incident ledger obligations report rules scan \
                server up version witness; do
    printf '%s\n' "${commands[@]}" | grep -qx "$expected" || fail "'haetae --help' does not list $expected"
done

subcommands=(
    "fim baseline" "fim check" "fim watch" "fim canary"
    "incident list" "incident show" "incident update" "incident set" "incident timeline"
    "incident export"
    "alert list"
    "report mark-sent"
    "ledger init" "ledger append" "ledger checkpoint" "ledger prove" "ledger verify"
    "ledger audit" "ledger export"
    "witness keygen" "witness cosign" "witness pull" "witness serve"
    "rules check"
    "server token" "server token create" "server agent" "server agent list"
    "server agent revoke" "server api-token" "server api-token create"
)

checked=0
for line in "${commands[@]}" "${subcommands[@]}"; do
    read -ra words <<<"$line"
    for flag in --help -h; do
        mkdir empty
        rc=0
        (cd empty && "$bin" "${words[@]}" "$flag" >../out 2>../err) || rc=$?
        [ "$rc" -eq 0 ] || fail "'haetae $line $flag' exited $rc: $(head -3 err)"
        [ -s out ] || fail "'haetae $line $flag' printed nothing on stdout"
        grep -qi usage out || fail "'haetae $line $flag' printed no usage: $(head -3 out)"
        [ -z "$(ls -A empty)" ] || fail "'haetae $line $flag' created $(ls -A empty)"
        rmdir empty
    done
    rc=0
    "$bin" "${words[@]}" --no-such-option >out 2>err || rc=$?
    [ "$rc" -eq 2 ] || fail "'haetae $line --no-such-option' exited $rc, not 2"
    grep -q -- '--no-such-option' err || fail "'haetae $line --no-such-option' did not name it: $(cat err)"
    [ ! -s out ] || fail "'haetae $line --no-such-option' wrote to stdout: $(head -3 out)"
    checked=$((checked + 1))
done
[ "$checked" -ge 45 ] || fail "only $checked commands checked"

# An option without its value names the option.
expect_usage() {
    local name=$1
    shift
    rc=0
    "$bin" "$@" >out 2>err || rc=$?
    [ "$rc" -eq 2 ] || fail "'haetae $*' exited $rc, not 2"
    grep -q -- "$name" err || fail "'haetae $*' did not name $name: $(cat err)"
}
expect_usage --dir ledger init --dir
expect_usage --data incident list --data
expect_usage --data obligations --data
expect_usage --obligation report ID --obligation
expect_usage --state witness cosign --state
expect_usage --listen server --listen
expect_usage --listen up --listen
expect_usage --mapping rules check --mapping
expect_usage -r hunt -r
expect_usage --limit alert --limit many
expect_usage --index ledger prove --dir log --index seven

# A verb the command does not know, or one missing its arguments, is a usage
# error before any store is opened (here there is none).
for line in "incident bogus" "incident show" "incident update ID" "incident set ID" \
            "incident export ID" "alert list extra" "ledger bogus" "witness bogus" \
            "rules bogus" "fim bogus" "obligations extra" "report ID"; do
    read -ra words <<<"$line"
    mkdir empty
    rc=0
    (cd empty && "$bin" "${words[@]}" >../out 2>../err) || rc=$?
    [ "$rc" -eq 2 ] || fail "'haetae $line' exited $rc, not 2: $(head -2 err)"
    [ -s err ] || fail "'haetae $line' said nothing on stderr"
    [ -z "$(ls -A empty)" ] || fail "'haetae $line' created $(ls -A empty)"
    rmdir empty
done

# Short options that hunt and rules check always took still work.
printf 'title: t\nid: 00000000-0000-0000-0000-000000000001\nlogsource: {product: linux}\n' >rule.yml
printf 'detection: {sel: {msg: evil}, condition: sel}\nlevel: high\n' >>rule.yml
printf '{"msg":"evil"}\n' >events.jsonl
rc=0
"$bin" hunt -r rule.yml -f jsonl events.jsonl >hunt.out 2>hunt.err || rc=$?
[ "$rc" -eq 1 ] || fail "hunt -r -f exited $rc: $(cat hunt.err)"
grep -q '"rule_id"\|"rule"' hunt.out || fail "hunt -r found nothing: $(cat hunt.out)"
"$bin" rules check -q rule.yml >rules.out 2>&1 || fail "rules check -q: $(cat rules.out)"

for unknown in nosuchcommand --no-such-option; do
    rc=0
    "$bin" "$unknown" >out 2>err || rc=$?
    [ "$rc" -eq 2 ] || fail "'haetae $unknown' exited $rc, not 2"
    grep -q "unknown command '$unknown'" err || fail "'haetae $unknown': $(head -1 err)"
done
rc=0
"$bin" >out 2>err || rc=$?
[ "$rc" -eq 2 ] || fail "'haetae' alone exited $rc, not 2"
echo "ok: $checked commands and subcommands"
