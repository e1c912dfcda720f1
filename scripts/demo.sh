#!/usr/bin/env bash
# The sandbox demo: a real migration end to end on this machine. SoftHSM2 token with sample keys of every
# importable type, the KMS emulator, Redis, queues and workers; ends with one line per key and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh
exec node bin/hsm2kms.js sandbox demo "$@"
