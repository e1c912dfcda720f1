#!/usr/bin/env bash
# Makes this machine ready for hsm2kms's sandbox and tests: system packages (Debian), a Redis that answers,
# and node_modules matching package-lock.json. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'hsm2kms setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 2
fi

# Debian packages: redis-server (queues), softhsm2 + opensc (the sandbox HSM), prometheus (promtool, metric tests),
# prometheus-alertmanager (amtool checks deploy/alertmanager), docker-compose (checks docker-compose.yml; without
# Docker itself: --no-install-recommends).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v softhsm2-util >/dev/null || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]}"
    say "install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 2
  fi
fi

# A Redis must answer. Start a throwaway one (no persistence) on the default port when none does.
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
if ! redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
  case "$redis_url" in
    redis://127.0.0.1:6379* | redis://localhost:6379*)
      say "no Redis answers at $redis_url: starting redis-server on 127.0.0.1:6379"
      dir=$(mktemp -d "${TMPDIR:-/tmp}/hsm2kms-redis.XXXXXX")
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log"
      for _ in $(seq 1 50); do redis-cli -u "$redis_url" ping >/dev/null 2>&1 && break; sleep 0.1; done
      redis-cli -u "$redis_url" ping >/dev/null
      ;;
    *)
      say "no Redis answers at $redis_url; start it or point REDIS_URL at one that does"
      exit 2
      ;;
  esac
fi

# node_modules as the lock file says (npm ci compiles pkcs11js against the local Node headers).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
