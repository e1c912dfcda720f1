#!/usr/bin/env bash
# The test command: prepares the machine (packages, Redis, npm ci), then type check, lint and every test on
# this machine's Node, and beside them the unit suite and the sandbox demo on Node 22 (scripts/test-node22.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh
node22_log=$(mktemp "${TMPDIR:-/tmp}/hsm2kms-node22-log.XXXXXX")
bash scripts/test-node22.sh >"$node22_log" 2>&1 &
node22=$!
status=0
npm test || status=$?
if wait "$node22"; then
  tail -n 1 "$node22_log"
else
  cat "$node22_log" >&2
  echo "test: the Node 22 run failed (above)" >&2
  status=1
fi
rm -f "$node22_log"
exit "$status"
