#!/usr/bin/env bash
# Due times of 36 incidents across every regime, computed by
# tests/server/deadline_matrix.py from the statutes (weekends, US federal
# holidays from 5 U.S.C. 6103, daylight saving changes, month ends, leap
# days, JST day counting, DORA with and without classification, NIS2
# yielding to DORA), compared with what the shipped policies say.
set -euo pipefail
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
python3 -c 'import zoneinfo; zoneinfo.ZoneInfo("Asia/Tokyo")' 2>/dev/null ||
  { echo "needs python3 with tzdata"; exit 77; }
prog=${HAETAE_TEST_BIN_DIR:?}/prog_obligations_eval
here=$(dirname "$0")
work=$(mktemp -d /tmp/haetae-deadlines-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$here/deadline_matrix.py" cases >"$work/cases.jsonl"
[ "$(wc -l <"$work/cases.jsonl")" -ge 30 ] || { echo "FAIL: fewer than 30 incidents"; exit 1; }
"$prog" "$HAETAE_SOURCE_DIR/policies" <"$work/cases.jsonl" >"$work/haetae.tsv"
python3 "$here/deadline_matrix.py" check "$work/haetae.tsv"
