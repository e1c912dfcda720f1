#!/usr/bin/env bash
# Runs the tests the way a new user would: from a fresh clone of this repository's HEAD in an empty temporary
# directory with nothing beside it (so nothing outside the repository can be read by accident), with its own
# `npm ci`. With no arguments it runs `bash scripts/test.sh` there (the whole suite: about 7 minutes on 2 cores);
# with arguments, `npx vitest run <arguments>` after the same setup, e.g.
#   bash scripts/test-from-clone.sh test/unit/kms-wrap.test.ts
# Only committed files are cloned: commit first. The clone is removed afterwards, when the tests fail too.
set -euo pipefail
repository=$(cd "$(dirname "$0")/.." && pwd)
parent=$(mktemp -d "${TMPDIR:-/tmp}/hsm2kms-clone.XXXXXX")
trap 'rm -rf "$parent"' EXIT
git clone --quiet --no-hardlinks "$repository" "$parent/hsm2kms"
cd "$parent/hsm2kms"
printf 'hsm2kms clone: testing %s in %s\n' "$(git rev-parse --short HEAD)" "$PWD" >&2
if [ "$#" -eq 0 ]; then
  bash scripts/test.sh
else
  bash scripts/ensure-system.sh
  npx vitest run "$@"
fi
