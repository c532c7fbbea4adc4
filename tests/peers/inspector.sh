#!/usr/bin/env bash
# Drives the MCP Inspector CLI (npm @modelcontextprotocol/inspector 2.x, `--cli`; needs Node >=
# 22.19, hence bin/node22) against a Streamable HTTP endpoint: tools/list, then tools/call of
# `echo` with message="hello from inspector". Prints ONE normalized JSON object on stdout:
#   {"call": <the call's result>, "tools": {"digest": sha256 of the sorted tool list, "names": [...]}}
# with keys sorted at every level, so direct and through-the-gateway runs compare byte for byte.
#
# Usage: inspector.sh [--era legacy|modern] URL [TOKEN]
#   TOKEN is sent as `Authorization: Bearer TOKEN`. --era modern speaks 2026-07-28 (for
#   current_server.py); the default, legacy, does the initialize handshake (server-everything).
# The Inspector keeps state under $HOME/.mcp-inspector; it runs here with a throwaway HOME.
# Exit 0 on success; 1 when the Inspector fails (its error envelope goes to stderr); 2 bad usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { echo "inspector.sh: $1" >&2; echo "usage: inspector.sh [--era legacy|modern] URL [TOKEN]" >&2; exit 2; }

era="legacy"
if [[ "${1:-}" == "--era" ]]; then
  [[ $# -ge 2 ]] || usage "--era needs a value"
  era="$2"; shift 2
fi
[[ "$era" == legacy || "$era" == modern ]] || usage "--era must be legacy or modern (got '$era')"
[[ $# -ge 1 && $# -le 2 ]] || usage "expected URL [TOKEN]"
url="$1"
token="${2:-}"
[[ "$url" =~ ^https?:// ]] || usage "URL must start with http:// or https:// (got '$url')"

cli="$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
[[ -f "$cli" ]] || { echo "inspector.sh: Inspector not installed; run scripts/install-test-deps.sh" >&2; exit 1; }

home="$(mktemp -d -t gatehouse-inspector.XXXXXX)"
trap 'rm -rf "$home"' EXIT
common=(--cli "$url" --transport http --protocol-era "$era" --format json --quiet --stored-auth-only)
[[ -n "$token" ]] && common+=(--header "Authorization: Bearer $token")

run() { HOME="$home" MCP_AUTO_OPEN_ENABLED=false "$here/bin/node22" "$cli" "${common[@]}" "$@"; }
if ! list="$(run --method tools/list)"; then echo "inspector.sh: tools/list failed" >&2; exit 1; fi
if ! call="$(run --method tools/call --tool-name echo --tool-arg "message=hello from inspector")"; then
  echo "inspector.sh: tools/call echo failed" >&2; exit 1
fi

LIST="$list" CALL="$call" "$here/bin/node22" --input-type=module -e '
import { createHash } from "node:crypto";
const canonical = (v) => Array.isArray(v) ? v.map(canonical)
  : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : v;
const parse = (name) => {
  const doc = JSON.parse(process.env[name]);
  if (doc.error || !doc.result) { console.error(`inspector.sh: ${name.toLowerCase()} returned ${JSON.stringify(doc)}`); process.exit(1); }
  return doc.result;
};
const tools = [...parse("LIST").tools].sort((a, b) => a.name.localeCompare(b.name));
const digest = createHash("sha256").update(JSON.stringify(canonical(tools))).digest("hex");
const out = { call: parse("CALL"), tools: { digest, names: tools.map((t) => t.name) } };
process.stdout.write(JSON.stringify(canonical(out)) + "\n");
'
