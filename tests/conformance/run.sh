#!/usr/bin/env bash
# Runs the MCP conformance suite (npm @modelcontextprotocol/conformance 0.1.x) `server` scenarios
# against URL and prints one JSON object {scenario: "pass"|"fail"} (keys sorted) on stdout; with
# OUT.json it also writes that object there. Exit 0 when the suite ran, whatever the outcomes
# (tests compare the maps); exit 1 when URL cannot be reached or the suite could not run;
# exit 2 on bad usage.
#
# Usage: run.sh [--token T] [--suite active|all|pending] [--scenario NAME] URL [OUT.json]
#   --token T   send `Authorization: Bearer T` on every request to URL's origin. The suite has no
#               header option, so inject-auth.mjs is preloaded into it (also: env CONFORMANCE_TOKEN).
#   --suite S   which scenarios (default: active = every scenario not marked pending).
#   --scenario  run one scenario only.
#   --requirements REV  run exactly the scenarios revision REV requires (e.g. 2026-07-28) with
#               the 0.2 pre-release suite (npm alias conformance-next), in place of --suite.
# The suite's full output and per-scenario checks.json are kept in a temp folder whose path is
# printed on stderr (env CONFORMANCE_KEEP=1 keeps it even on success).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers="$here/../peers"
node22="$peers/bin/node22"
suite_bin="$peers/node_modules/@modelcontextprotocol/conformance/dist/index.js"
next_bin="$peers/node_modules/conformance-next/dist/index.js"

usage() { echo "run.sh: $1" >&2; echo "usage: run.sh [--token T] [--suite active|all|pending] [--requirements REV] [--scenario NAME] URL [OUT.json]" >&2; exit 2; }

token="${CONFORMANCE_TOKEN:-}"
suite="active"
scenario=""
requirements=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --token) [[ $# -ge 2 ]] || usage "--token needs a value"; token="$2"; shift 2 ;;
    --suite) [[ $# -ge 2 ]] || usage "--suite needs a value"; suite="$2"; shift 2 ;;
    --scenario) [[ $# -ge 2 ]] || usage "--scenario needs a value"; scenario="$2"; shift 2 ;;
    --requirements) [[ $# -ge 2 ]] || usage "--requirements needs a value"; requirements="$2"; shift 2 ;;
    -h|--help) usage "help requested" ;;
    -*) usage "unknown option '$1'" ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ ${#args[@]} -ge 1 && ${#args[@]} -le 2 ]] || usage "expected URL [OUT.json]"
url="${args[0]}"
out="${args[1]:-}"
[[ "$url" =~ ^https?:// ]] || usage "URL must start with http:// or https:// (got '$url')"
[[ -f "$suite_bin" ]] || { echo "run.sh: conformance suite not installed; run scripts/install-test-deps.sh" >&2; exit 1; }

# A server that cannot be reached at all would fail every scenario, and two such runs would
# "agree": refuse to produce a result map then. Any HTTP answer (even 4xx) counts as reachable.
if ! "$node22" -e 'fetch(process.argv[1], { method: "GET", signal: AbortSignal.timeout(10000) })
    .then(() => process.exit(0), (e) => { console.error(`run.sh: cannot reach ${process.argv[1]}: ${e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.cause?.message ?? e.message}`); process.exit(1); })' "$url"; then
  exit 1
fi

work="$(mktemp -d -t gatehouse-conformance.XXXXXX)"
preload=()
if [[ -n "$token" ]]; then
  export GATEHOUSE_CONFORMANCE_TOKEN="$token" GATEHOUSE_CONFORMANCE_URL="$url"
  preload=(--import "$here/inject-auth.mjs")
fi
select=(--suite "$suite")
[[ -n "$scenario" ]] && select=(--scenario "$scenario")
if [[ -n "$requirements" ]]; then
  suite_bin="$next_bin"
  [[ -f "$suite_bin" ]] || { echo "run.sh: the 0.2 conformance suite is not installed; run scripts/install-test-deps.sh" >&2; exit 1; }
  select=(--requirements "$requirements")
  [[ -n "$scenario" ]] && select+=(--scenario "$scenario")
fi

# The suite exits 1 when any scenario fails; that is a result, not an error here.
set +e
(cd "$work" && "$node22" "${preload[@]}" "$suite_bin" server --url "$url" "${select[@]}" -o "$work/results") >"$work/suite.log" 2>&1
suite_rc=$?
set -e

if ! summary="$("$node22" "$here/summarize.mjs" "$work/results" 2>"$work/summary.err")"; then
  echo "run.sh: the suite produced no results (exit $suite_rc); its output:" >&2
  tail -n 40 "$work/suite.log" >&2
  cat "$work/summary.err" >&2
  exit 1
fi
cat "$work/summary.err" >&2
if [[ -n "$out" ]]; then printf '%s\n' "$summary" >"$out"; fi
printf '%s\n' "$summary"
if [[ "${CONFORMANCE_KEEP:-0}" == 1 || "$summary" == *'"fail"'* ]]; then
  echo "run.sh: suite output kept in $work" >&2
else
  rm -rf "$work"
fi
