#!/usr/bin/env bash
# Launcher for `scq` from any folder: node with the app's own tsx loader (what `import "tsx"` resolves to).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
exec node --import "file://$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/scq.ts" "$@"
