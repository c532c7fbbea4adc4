#!/usr/bin/env bash
# The main job on a fresh machine: builds the dashboard, then runs the control plane on
# SQLite with a demo MCP server (`gatehouse demo`). Extra arguments go to `gatehouse demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-build-deps.sh
scripts/build-ui.sh
exec cargo run --release --locked -p gatehouse-cli -- demo "$@"
