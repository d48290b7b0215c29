#!/usr/bin/env bash
# Launcher for `scq` from any folder. Uses the bundle run.sh builds (dist/scq.mjs) when it is up to
# date with the sources, else node with the app's own tsx loader (what `import "tsx"` resolves to).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [ -f "$here/dist/.built" ] && [ -z "$(cd "$here" && find lib scripts package-lock.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
  exec node "$here/dist/scq.mjs" "$@"
fi
exec node --import "file://$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/scq.ts" "$@"
