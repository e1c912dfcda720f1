#!/usr/bin/env bash
# The unit suite and the sandbox demo on Node 22 (the oldest supported line, package.json `engines`), whatever
# Node this machine runs. Node 22 comes from the npm registry (the `node` package ships the official binaries,
# cached by npm after the first run). pkcs11js is an N-API addon: the binary `npm ci` built for this machine's
# Node loads on 22 and 24 unchanged, so node_modules is shared. Run by scripts/test.sh beside the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."

node22=(npx --yes --package node@22 -- node)
version=$("${node22[@]}" --version)
case "$version" in
  v22.*) ;;
  *) echo "test-node22: expected Node 22, npx gave $version" >&2; exit 2 ;;
esac
echo "test-node22: $version: unit suite" >&2
"${node22[@]}" node_modules/vitest/vitest.mjs run test/unit --reporter=dot

dir=$(mktemp -d "${TMPDIR:-/tmp}/hsm2kms-node22.XXXXXX")
prefix="hsm2kms-node22-$$"
cleanup() {
  rm -rf "$dir"
  # The demo's queues and ledger (a campaign's ledger lives under {prefix.ledger} for Redis Cluster).
  for pattern in "$prefix:*" "{$prefix.ledger}*"; do
    redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "$pattern" |
      xargs -r redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" del >/dev/null
  done
}
trap cleanup EXIT
echo "test-node22: $version: sandbox demo" >&2
HSM2KMS_ALLOW_VOLATILE_REDIS=true "${node22[@]}" bin/hsm2kms.js sandbox demo \
  --dir "$dir" --prefix "$prefix" >"$dir/demo.log" 2>&1 || {
  cat "$dir/demo.log" >&2
  echo "test-node22: the sandbox demo failed on $version" >&2
  exit 1
}
echo "test-node22: $version: unit suite and sandbox demo passed" >&2
