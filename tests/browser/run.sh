#!/usr/bin/env bash
# The dashboard's browser tests: builds the UI, checks the gatehouse binary, runs the scenarios.
#   tests/browser/run.sh                 # GATEHOUSE_BIN defaults to ${CARGO_TARGET_DIR:-/work/target}/debug/gatehouse
# The binary must have been built AFTER `npm run build` in ui/ (it embeds ui/dist).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
(cd "$repo/ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build --silent)
(cd "$here" && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
cd "$here"
exec node --test --test-concurrency=1 --test-timeout=300000 dashboard.test.mjs "$@"
