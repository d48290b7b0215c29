#!/bin/sh
# syft-code-queue: the SyftBox app entry point. POSIX sh, so `sh run.sh` (dash), `bash run.sh`,
# `./run.sh`, a symlink to it, cron and both SyftBox clients all run the same thing.
#   ./run.sh                one pass of the processor, then exit (SyftBox legacy client, cron)
#   ./run.sh --loop         passes in one warm process: at once when work arrives, else every `interval` seconds
#                           (automatic when SYFTBOX_APP_ID is set: the Go client starts apps once)
#   ./run.sh --demo [dir]   build a local demo datasite, submit, approve and run a job, show the output
#   ./run.sh --install-only install dependencies and build the bundle if needed, nothing else
# Other arguments are passed to the pass (e.g. --data-dir DIR --email EMAIL --json).
set -eu

say() { printf '[syft-code-queue] %s\n' "$*" >&2; }

# The app folder is where this file really is, however it was called (through a symlink, from
# another working folder, with a relative path).
self="$(readlink -f -- "$0" 2>/dev/null || printf '%s' "$0")"
cd -- "$(dirname -- "$self")"

# Find node where PATH does not have it: cron's PATH is /usr/bin:/bin, and the SyftBox Go client
# rebuilds PATH for its apps (folders of virtualenvs, conda and pyenv removed; SYFTBOX_EXTRA_PATH
# added). Node.js from nodejs.org or by hand lives in /usr/local/bin, from Homebrew in
# /opt/homebrew/bin, from volta in ~/.volta/bin, from nvm in ~/.nvm/versions/node/<version>/bin.
if ! command -v node >/dev/null 2>&1; then
  for dir in /usr/local/bin /opt/homebrew/bin "${HOME:-/nonexistent}/.volta/bin" $(ls -d "${HOME:-/nonexistent}"/.nvm/versions/node/v*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/node" ]; then PATH="$PATH:$dir"; export PATH; break; fi
  done
fi
if ! command -v node >/dev/null 2>&1; then
  say "Node.js is not installed (or not on PATH=$PATH). Install Node.js 20 or newer, or put it on PATH; under the SyftBox client, name its folder in SYFTBOX_EXTRA_PATH. Then run this again."
  exit 1
fi
# `node --version` answers before Node starts its engine: a check that costs no Node start.
node_version="$(node --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
if [ "$node_major" -lt 20 ]; then
  say "Node.js $node_version is too old: syft-code-queue needs Node.js 20 or newer."
  exit 1
fi

# The legacy SyftBox client starts apps without HOME; npm needs a home for its cache.
if [ -z "${HOME:-}" ]; then
  HOME="$(node -p 'require("os").userInfo().homedir' 2>/dev/null || pwd)"
  export HOME
fi

# Install dependencies when node_modules is missing or older than the lock file, so a fresh
# install under SyftBox just works. npm ci writes node_modules/.package-lock.json. A datasite needs
# the runtime dependencies only (about 25 MB); the tests and checks need the development tools too
# (about 160 MB), which `run.sh --install-only --dev` (npm test's first step) installs. An install
# with the development tools is never cut down to the runtime ones.
want=runtime
if [ "${1:-}" = "--install-only" ] && [ "${2:-}" = "--dev" ]; then want=dev; fi
have="$(cat node_modules/.scq-install 2>/dev/null || true)"
if [ -z "$have" ] && [ -x node_modules/.bin/vitest ]; then have=dev; fi
if [ "$have" = dev ]; then want=dev; fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "$have" != "$want" ]; then
  if [ "$want" = dev ]; then
    say "installing dependencies with the development tools (npm ci: about 160 MB, a minute or so on a slow link)..."
    omit=""
  else
    say "installing runtime dependencies (npm ci --omit=dev: about 25 MB, seconds on a fast link)..."
    omit="--omit=dev"
  fi
  # npm shows no progress when its output is not a terminal (SyftBox, cron, CI): say how far it got
  # every few seconds, so a first start is never a silent minute. A stop stops npm too.
  started=$(date +%s)
  # shellcheck disable=SC2086 # $omit is one flag or none
  npm ci $omit --no-audit --no-fund --loglevel=error >&2 &
  npm_pid=$!
  trap 'kill "$npm_pid" 2>/dev/null; exit 143' INT TERM
  every="${SCQ_INSTALL_PROGRESS_S:-10}"
  ticks=0
  while kill -0 "$npm_pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % every)) -eq 0 ] && kill -0 "$npm_pid" 2>/dev/null; then
      say "still installing: $(du -sm node_modules 2>/dev/null | cut -f1 || echo 0) MB in node_modules after $(($(date +%s) - started)) s..."
    fi
  done
  if ! wait "$npm_pid"; then
    say "npm ci failed: check your network access to the npm registry, then run this again."
    exit 1
  fi
  trap - INT TERM
  echo "$want" > node_modules/.scq-install
  say "dependencies installed ($want) in $(($(date +%s) - started)) s"
fi

# The pass starts every few seconds for months, so it runs from a bundle built from the sources
# here (dist/, rebuilt whenever a source is newer): it starts about three times faster than loading
# the TypeScript through tsx. If the build fails, the sources run through tsx as before.
build_dist() {
  if [ -f dist/.built ] && [ -z "$(find lib scripts package-lock.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  tmp="dist.tmp.$$"
  rm -rf "$tmp"
  esm_require="import { createRequire as __scqRequire } from 'node:module'; const require = __scqRequire(import.meta.url);"
  if node_modules/.bin/esbuild scripts/process.ts scripts/approve.ts scripts/reject.ts \
      --bundle --platform=node --target=node20 --format=esm --outdir="$tmp" --out-extension:.js=.mjs \
      --banner:js="$esm_require" \
      --external:esbuild --minify --splitting --chunk-names=chunks/[name]-[hash] --log-level=error >&2; then
    # The job supervisor, also as one self-contained file: a Slurm node runs it from the shared folder.
    # scq as one CommonJS file, which its starter (dist/scq.mjs) runs from V8's code cache
    # (lib/core/code-cache.ts); its one import() of a package left outside (esbuild) becomes a
    # require, as a script run that way has no module loader for import().
    if ! node_modules/.bin/esbuild scripts/supervise.ts --bundle --platform=node --target=node20 --format=esm \
        --outfile="$tmp/supervise.mjs" --banner:js="$esm_require" --minify --log-level=error >&2 ||
      ! node_modules/.bin/esbuild scripts/scq.ts --bundle --platform=node --target=node20 --format=cjs \
        --outfile="$tmp/scq-main.cjs" --define:import.meta.url=__scqUrl \
        --banner:js="const __scqUrl = require('node:url').pathToFileURL(__filename).href;" \
        --external:esbuild --supported:dynamic-import=false --minify --log-level=error >&2 ||
      ! node_modules/.bin/esbuild scripts/scq-start.ts --bundle --platform=node --target=node20 --format=esm \
        --outfile="$tmp/scq.mjs" --minify --log-level=error >&2; then
      rm -rf "$tmp"
      say "building dist/ failed; running the TypeScript sources through tsx instead"
      return 1
    fi
    touch "$tmp/.built"
    rm -rf "dist.old.$$"
    if [ -d dist ]; then mv dist "dist.old.$$"; fi
    # Another run.sh may have built it at the same moment: either copy is good.
    mv -T "$tmp" dist 2>/dev/null || rm -rf "$tmp"
    rm -rf "dist.old.$$"
    return 0
  fi
  rm -rf "$tmp"
  say "building dist/ failed; running the TypeScript sources through tsx instead"
  return 1
}
if build_dist; then bundled=1; else bundled=0; fi

mode=once
case "${1:-}" in
  --install-only) exit 0 ;;
  --demo) shift; exec node --import tsx scripts/demo.ts "$@" ;;
  --loop) mode=loop; shift ;;
esac
if [ -n "${SYFTBOX_APP_ID:-}" ]; then mode=loop; fi

# The pass runs beside the owner's own work and its peak memory is its cost: V8 is told to keep the
# heap small, and to run its background work (compiling, collecting) on one thread instead of four,
# each of which would keep its own malloc arena of freed memory (a pass over a re-synced history of
# 100,000 jobs peaks near 77 MB instead of 160).
pass_flags="--optimize-for-size --v8-pool-size=1"
if [ "$mode" = once ]; then
  if [ "$bundled" = 1 ]; then exec node $pass_flags dist/process.mjs "$@"; fi
  exec node $pass_flags --import tsx scripts/process.ts "$@"
fi

# One node start reads both settings the loop needs: the interval and whether to serve the page.
settings="$(node -e 'const read = (f) => { try { return JSON.parse(require("fs").readFileSync(f, "utf8")) } catch { return {} } }; const f = process.env.SCQ_APP_CONFIG || "config.json"; const c = { ...read(f), ...read(f.replace(/(\.json)?$/, ".local.json")) }; console.log(`${Number.isInteger(c.interval) && c.interval > 0 ? c.interval : 10} ${c.ui?.serve === true}`)')"
interval="${settings% *}"
serve_ui="${settings#* }"
say "looping: a pass whenever work arrives, and every ${interval}s at least (Ctrl-C to stop)"

# The review page (config "ui": {"serve": true}) on the port the SyftBox client assigned the app. Its
# URL carries a random token made by the page's own process: written to .ui-url here (owner-only),
# never put in the environment (the client shows apps' environments through its local API) or the log.
ui=
keep_ui() {
  [ "$serve_ui" = true ] || return 0
  if [ -n "$ui" ] && kill -0 "$ui" 2>/dev/null; then return 0; fi
  if [ -z "${SYFTBOX_ASSIGNED_PORT:-}" ]; then
    say "ui.serve is set, but no SYFTBOX_ASSIGNED_PORT (only the SyftBox client assigns one): run scripts/scq.sh ui instead"
    serve_ui=false
    return 0
  fi
  if [ "$bundled" = 1 ]; then node dist/scq.mjs ui --port "$SYFTBOX_ASSIGNED_PORT" --url-file "$PWD/.ui-url" >/dev/null &
  else node --import tsx scripts/scq.ts ui --port "$SYFTBOX_ASSIGNED_PORT" --url-file "$PWD/.ui-url" >/dev/null & fi
  ui=$!
  say "review page on http://127.0.0.1:${SYFTBOX_ASSIGNED_PORT}/ (pid $ui); its URL with the access token is in $PWD/.ui-url"
}

# The warm process without V8's memory reducer: idle, it would run three full collections some seconds
# after each burst of work to give back a few MB, which cost more CPU than the loop's whole idle
# minute. The process restarts every hour (or past 256 MB), which gives back more.
loop_flags="$pass_flags --no-memory-reducer"

# One warm process runs the passes (lib/pass/loop.ts): at once when work arrives, else every
# `interval` seconds. It exits 75 now and then to be started afresh (with the bundle rebuilt if the
# sources changed); if it fails, it is started again after the interval.
warm=
trap 'for p in $warm $ui; do kill "$p" 2>/dev/null || true; done; if [ -n "$warm" ]; then wait "$warm" 2>/dev/null || true; fi; exit 0' INT TERM
while true; do
  keep_ui
  status=0
  if [ "$bundled" = 1 ]; then node $loop_flags dist/process.mjs --loop "$@" & else node $loop_flags --import tsx scripts/process.ts --loop "$@" & fi
  warm=$!
  wait "$warm" || status=$?
  warm=
  if [ "$status" -eq 75 ]; then
    if build_dist; then bundled=1; else bundled=0; fi
    continue
  fi
  say "the loop ended with exit code $status; starting it again in ${interval}s"
  sleep "$interval" &
  warm=$!
  wait "$warm" || true
done
