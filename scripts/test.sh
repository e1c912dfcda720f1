#!/usr/bin/env bash
# The test command: prepares the machine (packages, Redis, npm ci), then type check, lint and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh
exec npm test
