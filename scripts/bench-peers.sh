#!/usr/bin/env bash
# Side-by-side benchmark of the gateway's cost per MCP call (a bench, not a test).
#
# One load generator (Debian's `wrk`, scripts/bench-peers/post.lua posting `tools/call`)
# against, for each of two upstreams (the fast upstream of benches/gateway_load.rs,
# which answers at once with a 1,000-char result, and the reference server
# @modelcontextprotocol/server-everything, a realistic Node server):
#   direct            the upstream itself (cpu_us_per_call is then the upstream's own);
#   nginx             Debian nginx as a plain reverse proxy, keep-alive to the upstream:
#                     the floor for any HTTP hop on this machine;
#   gatehouse-os      `gatehouse serve --dev`, durability = "os", dev token, recording and
#                     masking on, a one-rule allow policy;
#   gatehouse-fsync   the same with durability = "fsync";
#   contextforge      IBM ContextForge (PyPI mcp-contextforge-gateway), its JWT auth on,
#                     RATE_LIMITING_ENABLED=false (its default limiter refuses any load test);
#   mcp-proxy         PyPI mcp-proxy, the only way it proxies HTTP to HTTP: its server mode
#                     (Streamable HTTP, stateless) over its own client mode (stdio to the
#                     upstream); cpu_us_per_call counts both processes.
# For each row and concurrency it prints
#   RESULT name=<row> upstream=<fast|everything> conc=<n> rps=<n> p50_us=<n> p99_us=<n> cpu_us_per_call=<n> ratio=<rps/direct>
# where cpu_us_per_call is the proxy's processes' utime+stime (/proc) over the calls served,
# then a Markdown table. Everything listens on 127.0.0.1 only.
#
# Usage: scripts/bench-peers.sh [--quick] [--secs N] [--runs N] [--rows a,b] [--upstreams fast,everything] [--no-install]
#   --quick      2 s per measurement, one run (default: 5 s, one run)
#   --runs N     repeat each measurement N times and report the medians
#   --rows       only these rows (direct is always measured: ratios need it)
# Installs what it needs (apt: wrk nginx-light; pip into .bench-deps/py312 with pyenv's
# Python 3.12: mcp-contextforge-gateway in .bench-deps/py312, mcp-proxy in .bench-deps/mcp-proxy;
# npm: tests/peers), each step bounded
# in time. Needs cargo; builds `gatehouse` and the gateway_load bench in release mode
# (CARGO_TARGET_DIR is honoured). The machine is what it is: on shared cores, read the
# CPU per call (robust to load) before the throughput.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.bench-deps"
lua="$root/scripts/bench-peers/post.lua"
secs=5
runs=1
rows="direct,nginx,gatehouse-os,gatehouse-fsync,contextforge,mcp-proxy"
upstreams="fast,everything"
install=1
CONTEXTFORGE_VERSION="1.1.0"
MCP_PROXY_VERSION="0.13.0"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) secs=2; runs=1 ;;
    --secs) secs="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --rows) rows="direct,$2"; shift ;;
    --upstreams) upstreams="$2"; shift ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "bench-peers: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'bench-peers: %s\n' "$*" >&2; }
die() { printf 'bench-peers: error: %s\n' "$*" >&2; exit 1; }
wants() { [[ ",$rows," == *",$1,"* ]]; }

work="$(mktemp -d /tmp/bench-peers.XXXXXX)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  sleep 0.3
  for p in "${pids[@]}"; do
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- installation
apt_install() {
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install $*"
  timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { timeout 300 apt-get update -qq >/dev/null; timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || die "apt-get install $* failed"
}

python312() {
  local p
  for p in "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 "$(command -v python3.12 2>/dev/null)"; do
    [[ -x "$p" ]] && { echo "$p"; return; }
  done
  return 1
}

install_deps() {
  command -v wrk >/dev/null || { say "apt-get install wrk"; apt_install wrk; }
  command -v nginx >/dev/null || { say "apt-get install nginx-light"; apt_install nginx-light; }
  if [[ ! -x "$root/tests/peers/node_modules/.bin/mcp-server-everything" ]]; then
    say "installing the npm test peers (server-everything)"
    timeout 600 "$root/scripts/install-test-deps.sh" >&2 || die "scripts/install-test-deps.sh failed"
  fi
  # Each in its own venv: mcp-proxy and ContextForge pin different `mcp` versions.
  wants contextforge && pip_venv py312 "mcp-contextforge-gateway==$CONTEXTFORGE_VERSION"
  wants mcp-proxy && pip_venv mcp-proxy "mcp-proxy==$MCP_PROXY_VERSION"
  return 0
}

pip_venv() { # folder under .bench-deps, requirement
  local venv="$deps/$1" stamp="$deps/$1/.stamp" py
  [[ -f "$stamp" && "$(cat "$stamp")" == "$2" ]] && return 0
  py="$(python312)" || die "ContextForge $CONTEXTFORGE_VERSION needs Python 3.12 (pyenv install 3.12 first)"
  say "pip install $2 into .bench-deps/$1"
  [[ -x "$venv/bin/python" ]] || timeout 120 "$py" -m venv "$venv" || die "python3.12 -m venv failed"
  timeout 900 "$venv/bin/pip" install -q --disable-pip-version-check "$2" >&2 || die "pip install $2 failed"
  echo "$2" >"$stamp"
}

build() {
  # GATEHOUSE_BIN: measure that build of `gatehouse` instead (e.g. to compare two commits).
  if [[ -n "${GATEHOUSE_BIN:-}" ]]; then
    gatehouse_bin="$GATEHOUSE_BIN"
  else
    say "building gatehouse (release)"
    (cd "$root" && timeout 3600 cargo build --release -q -p gatehouse-cli) || die "cargo build failed"
    gatehouse_bin="${CARGO_TARGET_DIR:-$root/target}/release/gatehouse"
  fi
  [[ -x "$gatehouse_bin" ]] || die "$gatehouse_bin was not built"
  [[ ",$upstreams," == *",fast,"* ]] || return 0
  say "building the fast upstream (benches/gateway_load.rs)"
  local json
  json="$(cd "$root" && timeout 3600 cargo bench -q -p gatehouse-control-plane --bench gateway_load --no-run --message-format=json)" \
    || die "cargo bench --no-run failed"
  upstream_bin="$(printf '%s\n' "$json" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "gateway_load" and m.get("executable"):
        print(m["executable"])')"
  [[ -x "$upstream_bin" ]] || die "the gateway_load bench binary was not found"
}

# ---------------------------------------------------------------- processes
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port what seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$2 does not listen on port $1 after $3 s (log: $work/$2.log)"
}

start() { # name cmd... (in the background; its log in $work/name.log)
  local name="$1"
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}

clk_tck="$(getconf CLK_TCK)"
descendants() { # pid: the pid and every live descendant
  local p c
  echo "$1"
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$c"
  done
}
cpu_ticks() { # pid: utime+stime of the process tree
  local t=0 p f
  for p in $(descendants "$1"); do
    f="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    f="${f##*) }"
    # Fields after the command name: state is 3rd overall, utime 14th, stime 15th.
    read -r -a a <<<"$f"
    t=$((t + a[11] + a[12]))
  done
  echo "$t"
}

# Opens `n` sessions (initialize + notifications/initialized); prints their ids, none
# for a stateless server.
open_sessions() { # url n token
  local url="$1" n="$2" token="$3" i sid auth=()
  [[ "$token" != "-" ]] && auth=(-H "Authorization: Bearer $token")
  for ((i = 0; i < n; i++)); do
    sid="$(curl -sS -m 20 -o /dev/null -D - "${auth[@]}" -H 'Content-Type: application/json' \
      -H 'Accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench-peers","version":"1"}}}' \
      "$url" | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:" {print $2}')"
    [[ -z "$sid" ]] && return 0
    curl -sS -m 20 -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
      -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $sid" \
      -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
    echo "$sid"
  done
}

# One call, to check a row answers what it should before it is measured.
check_call() { # url tool args token sid expect
  local auth=() sidh=()
  [[ "$4" != "-" ]] && auth=(-H "Authorization: Bearer $4")
  [[ -n "$5" ]] && sidh=(-H "Mcp-Session-Id: $5")
  curl -sS -m 30 "${auth[@]}" "${sidh[@]}" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":\"check\",\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}" "$1" \
    | grep -q "$6"
}

# ---------------------------------------------------------------- measurement
declare -A direct_rps direct_p50
results=()

median() { tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # row upstream conc url pid tool args token expect
  local row="$1" up="$2" conc="$3" url="$4" pid="$5" tool="$6" args="$7" token="$8" expect="$9"
  local threads=$((conc > 1 ? 2 : 1)) nsess=$((conc < 64 ? conc : 64))
  local sessions
  sessions="$(open_sessions "$url" "$nsess" "$token" | tr '\n' ' ')"
  if ! check_call "$url" "$tool" "$args" "$token" "${sessions%% *}" "$expect"; then
    say "$row/$up: a check call did not answer as expected; skipping the row"
    return
  fi
  # shellcheck disable=SC2086
  wrk -t"$threads" -c"$conc" -d1s --timeout 10s -s "$lua" "$url" -- "$tool" "$args" "$token" $sessions >/dev/null 2>&1 || true
  local r rps_l=() p50_l=() p99_l=() cpu_l=() out before after n dur
  for ((r = 0; r < runs; r++)); do
    before="$(cpu_ticks "$pid")"
    # shellcheck disable=SC2086
    out="$(wrk -t"$threads" -c"$conc" -d"${secs}s" --timeout 10s -s "$lua" "$url" -- "$tool" "$args" "$token" $sessions 2>&1 | grep '^WRK ' || true)"
    after="$(cpu_ticks "$pid")"
    [[ -n "$out" ]] || { say "$row/$up/c$conc: wrk printed nothing"; return; }
    n="$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$out")"
    dur="$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$out")"
    local errors
    errors="$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$out")"
    ((n > 0)) || { say "$row/$up/c$conc: no request completed"; return; }
    ((errors * 100 <= n)) || say "$row/$up/c$conc: $errors of $n requests failed"
    rps_l+=("$(awk -v n="$n" -v d="$dur" 'BEGIN {printf "%.0f", n / (d / 1e6)}')")
    p50_l+=("$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$out")")
    p99_l+=("$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$out")")
    cpu_l+=("$(awk -v t="$((after - before))" -v hz="$clk_tck" -v n="$n" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')")
  done
  local rps p50 p99 cpu ratio
  rps="$(median <<<"${rps_l[*]}")"
  p50="$(median <<<"${p50_l[*]}")"
  p99="$(median <<<"${p99_l[*]}")"
  cpu="$(median <<<"${cpu_l[*]}")"
  if [[ "$row" == direct ]]; then
    direct_rps["$up/$conc"]="$rps"
    direct_p50["$up/$conc"]="$p50"
  fi
  ratio="$(awk -v a="$rps" -v b="${direct_rps["$up/$conc"]:-0}" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}')"
  local line="RESULT name=$row upstream=$up conc=$conc rps=$rps p50_us=$p50 p99_us=$p99 cpu_us_per_call=$cpu ratio=$ratio"
  echo "$line"
  results+=("$line")
}

# ---------------------------------------------------------------- the rows
[[ $install == 1 ]] && install_deps
build

declare -A up_url up_pid
if [[ ",$upstreams," == *",fast,"* ]]; then
  fast_port="$(free_port)"
  start upstream-fast env GH_BENCH_ROLE=upstream GH_BENCH_PORT="$fast_port" "$upstream_bin"
  up_pid[fast]=$last_pid
  up_url[fast]="http://127.0.0.1:$fast_port/mcp"
  wait_port "$fast_port" upstream-fast 30
fi
if [[ ",$upstreams," == *",everything,"* ]]; then
  every_port="$(free_port)"
  start upstream-everything env PORT="$every_port" "$root/tests/peers/node_modules/.bin/mcp-server-everything" streamableHttp
  up_pid[everything]=$last_pid
  up_url[everything]="http://127.0.0.1:$every_port/mcp"
  wait_port "$every_port" upstream-everything 60
fi

declare -A tool_of args_of expect_of
tool_of[fast]=echo; args_of[fast]='{"message":"hello"}'; expect_of[fast]='xxxxxxxxxx'
tool_of[everything]=echo; args_of[everything]='{"message":"hello"}'; expect_of[everything]='Echo: hello'

# nginx: a plain reverse proxy with a keep-alive pool to each upstream.
if wants nginx; then
  nginx_port="$(free_port)"
  mkdir -p "$work/nginx"
  {
    echo "worker_processes 2; daemon off; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http { access_log off; client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;"
    echo "  fastcgi_temp_path $work/nginx/f; uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;"
    for up in ${upstreams//,/ }; do
      echo "  upstream up_$up { server ${up_url[$up]#http://}; keepalive 64; }"
    done
    echo "  server { listen 127.0.0.1:$nginx_port;"
    for up in ${upstreams//,/ }; do
      echo "    location = /$up/mcp { proxy_pass http://up_$up/mcp; proxy_http_version 1.1;"
      echo "      proxy_set_header Connection \"\"; proxy_buffering off; }"
    done
    echo "  }"
    echo "}"
  } | sed "s#server 127.0.0.1:\([0-9]*\)/mcp;#server 127.0.0.1:\1;#" >"$work/nginx/nginx.conf"
  start nginx nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
  nginx_pid=$last_pid
  wait_port "$nginx_port" nginx 30
fi

# Gatehouse, once per durability.
declare -A gh_port gh_pid
for d in os fsync; do
  wants "gatehouse-$d" || continue
  gh_port[$d]="$(free_port)"
  mkdir -p "$work/gh-$d"
  cat >"$work/gh-$d/policy.yaml" <<'EOF'
version: 1
default: deny
rules:
  - name: bench-may-call
    principals: {users: [bench]}
    servers: [fast, everything]
    methods: [tools/call]
    effect: allow
EOF
  {
    echo "listen = \"127.0.0.1:${gh_port[$d]}\""
    echo "database = \"sqlite://$work/gh-$d/gatehouse.db\""
    echo "durability = \"$d\""
    echo "policy_file = \"$work/gh-$d/policy.yaml\""
    echo "[limits]"
    echo "session_idle_secs = 3600"
    for up in ${upstreams//,/ }; do
      echo "[[servers]]"
      echo "name = \"$up\""
      echo "url = \"${up_url[$up]}\""
    done
    echo "[dev]"
    echo 'tokens = [{ token = "bench", user = "bench" }]'
  } >"$work/gh-$d/gatehouse.toml"
  start "gatehouse-$d" env -u RUST_LOG "$gatehouse_bin" serve --dev --config "$work/gh-$d/gatehouse.toml"
  gh_pid[$d]=$last_pid
  wait_port "${gh_port[$d]}" "gatehouse-$d" 60
done

# ContextForge: its own JWT auth on, every upstream registered as a gateway and exposed
# through one virtual server each.
declare -A cf_url cf_tool
if wants contextforge; then
  cf_port="$(free_port)"
  mkdir -p "$work/cf"
  secret="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  cat >"$work/cf/.env" <<EOF
HOST=127.0.0.1
PORT=$cf_port
JWT_SECRET_KEY=$secret
AUTH_ENCRYPTION_SECRET=$secret-enc
PLATFORM_ADMIN_EMAIL=admin@example.com
PLATFORM_ADMIN_PASSWORD=Bench-Admin-Passw0rd!
BASIC_AUTH_PASSWORD=Bench-Basic-Passw0rd!
DEFAULT_USER_PASSWORD=Bench-User-Passw0rd!
SSRF_ALLOW_LOCALHOST=true
RATE_LIMITING_ENABLED=false
MCPGATEWAY_UI_ENABLED=false
MCPGATEWAY_ADMIN_API_ENABLED=true
LOG_LEVEL=ERROR
EOF
  # It reads ./.env and keeps its database (./mcp.db) in its working folder.
  start contextforge env -C "$work/cf" "$deps/py312/bin/mcpgateway" --host 127.0.0.1 --port "$cf_port"
  cf_pid=$last_pid
  wait_port "$cf_port" contextforge 240
  cf_token="$(cd "$work/cf" && "$deps/py312/bin/python" -m mcpgateway.utils.create_jwt_token \
    --username admin@example.com --secret "$secret" --exp 720 2>/dev/null | tail -1)"
  cf_api() { curl -sS -m 60 -H "Authorization: Bearer $cf_token" -H 'Content-Type: application/json' "$@"; }
  for up in ${upstreams//,/ }; do
    cf_api -d "{\"name\":\"$up\",\"url\":\"${up_url[$up]}\",\"transport\":\"STREAMABLEHTTP\"}" \
      "http://127.0.0.1:$cf_port/gateways" >"$work/cf/gw-$up.json"
    read -r tool_id tool_name < <(cf_api "http://127.0.0.1:$cf_port/tools?limit=0" | python3 -c '
import json, sys
up = sys.argv[1]
data = json.load(sys.stdin)
tools = data if isinstance(data, list) else data.get("tools", data.get("items", []))
for t in tools:
    if t.get("name") == up + "-echo" or (t.get("originalName", t.get("original_name")) == "echo" and (t.get("gatewaySlug") or t.get("gateway_slug")) == up):
        print(t["id"], t["name"]); break' "$up") || true
    if [[ -z "${tool_id:-}" ]]; then
      say "contextforge: no echo tool from $up (see $work/cf/gw-$up.json); its rows are skipped"
      continue
    fi
    server_id="$(cf_api -d "{\"server\":{\"name\":\"bench-$up\",\"associated_tools\":[\"$tool_id\"]},\"visibility\":\"public\"}" \
      "http://127.0.0.1:$cf_port/servers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    cf_url[$up]="http://127.0.0.1:$cf_port/servers/$server_id/mcp"
    cf_tool[$up]="$tool_name"
    tool_id=""
  done
fi

# mcp-proxy: its Streamable HTTP server mode running its own client mode as the stdio
# server, one pair per upstream.
declare -A mp_url mp_pid
if wants mcp-proxy; then
  for up in ${upstreams//,/ }; do
    port="$(free_port)"
    start "mcp-proxy-$up" "$deps/mcp-proxy/bin/mcp-proxy" --host 127.0.0.1 --port "$port" --stateless --log-level WARNING \
      -- "$deps/mcp-proxy/bin/mcp-proxy" --log-level WARNING --transport streamablehttp "${up_url[$up]}"
    mp_pid[$up]=$last_pid
    mp_url[$up]="http://127.0.0.1:$port/mcp"
    wait_port "$port" "mcp-proxy-$up" 60
  done
fi

for up in ${upstreams//,/ }; do
  concs="1 64"
  [[ "$up" == everything ]] && concs="1 16"
  for c in $concs; do
    t="${tool_of[$up]}" a="${args_of[$up]}" e="${expect_of[$up]}"
    say "measuring $up at concurrency $c"
    measure direct "$up" "$c" "${up_url[$up]}" "${up_pid[$up]}" "$t" "$a" - "$e"
    wants nginx && measure nginx "$up" "$c" "http://127.0.0.1:$nginx_port/$up/mcp" "$nginx_pid" "$t" "$a" - "$e"
    for d in os fsync; do
      wants "gatehouse-$d" && measure "gatehouse-$d" "$up" "$c" "http://127.0.0.1:${gh_port[$d]}/mcp/$up" "${gh_pid[$d]}" "$t" "$a" bench "$e"
    done
    if wants contextforge && [[ -n "${cf_url[$up]:-}" ]]; then
      measure contextforge "$up" "$c" "${cf_url[$up]}" "$cf_pid" "${cf_tool[$up]}" "$a" "$cf_token" "$e"
    fi
    wants mcp-proxy && measure mcp-proxy "$up" "$c" "${mp_url[$up]}" "${mp_pid[$up]}" "$t" "$a" - "$e"
  done
done

# ---------------------------------------------------------------- the table
echo
echo "Side by side, $secs s per measurement, median of $runs run(s), loopback on $(nproc) cores (shared: read CPU per call first)."
echo "ContextForge $CONTEXTFORGE_VERSION runs with RATE_LIMITING_ENABLED=false; direct's CPU is the upstream's own."
echo
echo "| row | upstream | conc | req/s | p50 µs | p99 µs | p50 added µs | CPU µs/call | vs direct |"
echo "|---|---|---|---|---|---|---|---|---|"
for line in "${results[@]}"; do
  eval "$(sed -E 's/^RESULT //; s/([a-z0-9_]+)=/r_\1=/g' <<<"$line")"
  added="$(awk -v a="$r_p50_us" -v b="${direct_p50["$r_upstream/$r_conc"]:-0}" 'BEGIN {print a - b}')"
  echo "| $r_name | $r_upstream | $r_conc | $r_rps | $r_p50_us | $r_p99_us | $added | $r_cpu_us_per_call | $r_ratio |"
done
