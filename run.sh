#!/usr/bin/env bash
# syft-code-queue: the SyftBox app entry point.
#   ./run.sh                one pass of the processor, then exit (SyftBox legacy client, cron)
#   ./run.sh --loop         a pass every `interval` seconds, each in a fresh process
#                           (automatic when SYFTBOX_APP_ID is set: the Go client starts apps once)
#   ./run.sh --demo [dir]   build a local demo datasite, submit, approve and run a job, show the output
#   ./run.sh --install-only install dependencies if needed, nothing else
# Other arguments are passed to the pass (e.g. --data-dir DIR --email EMAIL --json).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

say() { printf '[syft-code-queue] %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1; then
  say "Node.js is not installed. Install Node.js 20 or newer (https://nodejs.org or your package manager), then run this again."
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  say "Node.js $(node --version) is too old: syft-code-queue needs Node.js 20 or newer."
  exit 1
fi

# Install dependencies when node_modules is missing or older than the lock file, so a fresh
# install under SyftBox just works. npm ci writes node_modules/.package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing dependencies (npm ci)..."
  if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
    say "npm ci failed: check your network access to the npm registry, then run this again."
    exit 1
  fi
fi

mode=once
case "${1:-}" in
  --install-only) exit 0 ;;
  --demo) shift; exec node --import tsx scripts/demo.ts "$@" ;;
  --loop) mode=loop; shift ;;
esac
if [ -n "${SYFTBOX_APP_ID:-}" ]; then mode=loop; fi

if [ "$mode" = once ]; then
  exec node --import tsx scripts/process.ts "$@"
fi

interval="$(node -e 'try { const c = JSON.parse(require("fs").readFileSync(process.env.SCQ_APP_CONFIG || "config.json", "utf8")); console.log(Number.isInteger(c.interval) && c.interval > 0 ? c.interval : 10) } catch { console.log(10) }')"
say "looping: one pass every ${interval}s (Ctrl-C to stop)"
trap 'exit 0' INT TERM
while true; do
  node --import tsx scripts/process.ts "$@" || say "pass failed with exit code $?; retrying in ${interval}s"
  sleep "$interval" &
  wait $!
done
