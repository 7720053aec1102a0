#!/usr/bin/env bash
# haetae server token create / api-token create / agent list and haetae
# incident|alert over a fresh data directory, without a running server.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
data=$dir/data

token=$("$HAETAE_BIN" server token create --ttl 10m --data "$data")
# <43 base64url chars>.<43 base64url chars>
[[ $token =~ ^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$ ]] || { echo "bad token: $token"; exit 1; }
[ "$(stat -c %a "$data/tls/server.key")" = 600 ] || { echo "key not 0600"; exit 1; }
second=$("$HAETAE_BIN" server token create --data "$data")
[ "${token#*.}" = "${second#*.}" ] || { echo "pin changed between tokens"; exit 1; }
[ "${token%%.*}" != "${second%%.*}" ] || { echo "secrets repeat"; exit 1; }

api=$("$HAETAE_BIN" server api-token create --user ana --data "$data")
[ ${#api} -eq 43 ] || { echo "bad api token: $api"; exit 1; }

[ -z "$("$HAETAE_BIN" server agent list --format json --data "$data")" ] || exit 1
[ -z "$("$HAETAE_BIN" incident list --format json --data "$data")" ] || exit 1
[ -z "$("$HAETAE_BIN" alert list --format json --data "$data")" ] || exit 1

if "$HAETAE_BIN" server token create --ttl soon --data "$data" 2>/dev/null; then
  echo "accepted --ttl soon"; exit 1
fi
# No server serves $data: a change needs --offline, so no clock but the
# server's stamps it unless the operator says so.
rc=0
"$HAETAE_BIN" incident update nope --state closed --data "$data" 2>"$dir/err" || rc=$?
[ "$rc" = 4 ] || { echo "update without a server exited $rc, want 4"; exit 1; }
grep -q "no server is serving $data.*give --offline" "$dir/err" || { cat "$dir/err"; exit 1; }
if "$HAETAE_BIN" incident update nope --state closed --offline --data "$data" 2>"$dir/err"; then
  echo "updated a missing incident"; exit 1
fi
grep -q "no incident with id 'nope'" "$dir/err" || { cat "$dir/err"; exit 1; }
if "$HAETAE_BIN" server agent revoke nope --data "$data" 2>/dev/null; then exit 1; fi
echo "server cli: ok"
