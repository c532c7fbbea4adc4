#!/usr/bin/env bash
# Starts @modelcontextprotocol/server-everything (the MCP reference server, legacy era) in
# Streamable HTTP mode on 127.0.0.1-reachable PORT, in the foreground, for tests to spawn and
# kill. Endpoint: http://127.0.0.1:PORT/mcp. It logs to stdout/stderr.
#
# The stdio form of the same server (for a gateway `command` upstream) is:
#   tests/peers/bin/node22 tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio
# (Node 20 runs it too: node .../dist/index.js stdio)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -ne 1 || ! "$1" =~ ^[0-9]+$ || "$1" -gt 65535 ]]; then
  echo "usage: start-everything-http.sh PORT   (PORT: 1..65535)" >&2
  exit 2
fi
entry="$here/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
[[ -f "$entry" ]] || { echo "start-everything-http.sh: $entry missing; run scripts/install-test-deps.sh" >&2; exit 1; }
export PORT="$1"
exec "$here/bin/node22" "$entry" streamableHttp
