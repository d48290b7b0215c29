#!/bin/sh
# Launcher for `scq` from any folder (POSIX sh; symlink it onto your PATH). Runs the bundle run.sh
# builds (dist/scq.mjs); when that is missing or older than the sources, run.sh --install-only
# installs the dependencies and builds it first, and if it cannot, the sources run through tsx.
set -eu
here="$(cd -- "$(dirname -- "$(readlink -f -- "$0")")/.." && pwd)"
fresh() {
  [ -f "$here/dist/.built" ] && [ -z "$(cd "$here" && find lib scripts package-lock.json -newer dist/.built -print -quit 2>/dev/null)" ]
}
# One look when dist/ is fresh (the usual case): the second only after run.sh tried to build it.
if fresh || { sh "$here/run.sh" --install-only || true; fresh; }; then exec node "$here/dist/scq.mjs" "$@"; fi
exec node --import "file://$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/scq.ts" "$@"
