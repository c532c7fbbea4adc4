#!/usr/bin/env bash
# Checks everything under deploy/ and docs/deploy/ with the real tools, offline:
#   - Kubernetes: each overlay (sqlite-single, postgres-replicas, the agent, and the AKS
#     overlay of docs/deploy/azure.md) rendered with `kubectl kustomize`, validated against
#     the Kubernetes API schemas (kubernetes-validate --strict), and checked for what a
#     deployment needs (probes, replicas, PodDisruptionBudget, non-root, read-only root...);
#   - configs: every config file shipped or shown in the Azure guide, through
#     `gatehouse config check` / `gatehouse-agent --check` (tests/deploy/check_config.py);
#   - systemd units: `systemd-analyze verify` with no complaint at all;
#   - alert rules: `promtool check rules` and `promtool test rules`;
#   - the Grafana dashboard: its PromQL parses and names only metrics /metrics exposes;
#   - the container images (scripts/test-images.sh), unless --no-images.
# Tools come from Debian and PyPI (scripts/install-deploy-deps.sh).
#
# Usage: scripts/test-deploy.sh [--binaries DIR] [--no-images]
#   --binaries DIR  gatehouse and gatehouse-agent to check with and to put in the images
#                   (default: $CARGO_TARGET_DIR/debug, built when missing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

bins="" images=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binaries) bins="${2:?}"; shift 2 ;;
    --no-images) images=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) printf 'test-deploy: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
  esac
done

step() { printf '\n-- %s\n' "$*"; }
fail() { printf 'test-deploy: FAILED: %s\n' "$*" >&2; exit 1; }

step "tools (Debian, PyPI)"
if [[ $images == 1 ]]; then scripts/install-deploy-deps.sh; else scripts/install-deploy-deps.sh --no-images; fi
py="$root/.test-deps/deploy-venv/bin/python"
validate="$root/.test-deps/deploy-venv/bin/kubernetes-validate"

if [[ -z $bins ]]; then
  bins="$target/debug"
  [[ -x $bins/gatehouse && -x $bins/gatehouse-agent ]] \
    || cargo build --locked -p gatehouse-cli -p gatehouse-agent
fi
[[ -x $bins/gatehouse && -x $bins/gatehouse-agent ]] || fail "no gatehouse and gatehouse-agent in $bins"
bins="$(cd "$bins" && pwd)"

scratch="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT

step "the Azure guide's config files (docs/deploy/azure.md)"
python3 tests/deploy/snippets.py docs/deploy/azure.md "$scratch/guide"

step "Kubernetes: kubectl kustomize, kubernetes-validate --strict"
cp -r deploy/k8s "$scratch/k8s"
cp -r "$scratch/guide/overlays/aks" "$scratch/k8s/overlays/aks"
for overlay in overlays/sqlite-single overlays/postgres-replicas overlays/aks agent; do
  out="$scratch/$(basename "$overlay").yaml"
  # Newer kubectl warns that `bases`/`patchesStrategicMerge`/`commonLabels` are deprecated;
  # they stay because Debian's kubectl (kustomize 2.0) knows nothing newer.
  kubectl kustomize "$scratch/k8s/$overlay" >"$out" 2>"$scratch/kustomize.err" \
    || { cat "$scratch/kustomize.err" >&2; fail "kubectl kustomize $overlay"; }
  report="$("$validate" --strict "$out" 2>&1)" || { printf '%s\n' "$report" >&2; fail "$overlay does not validate"; }
  # The one kind without a schema here is the Key Vault CSI driver's (a CRD).
  if grep -v 'SecretProviderClass' <<<"$report" | grep -q '^WARN'; then
    printf '%s\n' "$report" >&2
    fail "$overlay: kubernetes-validate warned"
  fi
  "$py" tests/deploy/check_manifests.py "$(basename "$overlay")" "$out"
done

step "configs: gatehouse config check, gatehouse-agent --check"
python3 tests/deploy/check_config.py --gatehouse "$bins/gatehouse" --agent "$bins/gatehouse-agent" \
  deploy/container/gatehouse.toml deploy/k8s/base/gatehouse.toml deploy/k8s/agent/agent.toml \
  "$scratch/guide/overlays/aks/gatehouse.toml" "$scratch/guide/agent.toml"
for policy in deploy/k8s/base/policy.yaml "$scratch/guide/overlays/aks/policy.yaml"; do
  "$bins/gatehouse" policy check "$policy"
done

step "systemd units: systemd-analyze verify"
mkdir -p "$scratch/units"
for unit in deploy/systemd/*.service; do
  # Verify needs the binaries where ExecStart names them: the ones under test.
  sed "s#/usr/local/bin/#$bins/#g" "$unit" >"$scratch/units/$(basename "$unit")"
  complaints="$(systemd-analyze verify "$scratch/units/$(basename "$unit")" 2>&1)" \
    || fail "systemd-analyze verify $unit: $complaints"
  [[ -z $complaints ]] || fail "systemd-analyze verify $unit: $complaints"
  printf '%s: ok, %s\n' "$unit" \
    "$(systemd-analyze security --offline=yes "$scratch/units/$(basename "$unit")" 2>/dev/null | sed -n 's/^→ Overall exposure level for [^:]*: /exposure /p')"
done

step "alert rules: promtool"
promtool check rules deploy/monitoring/gatehouse-alerts.yml
(cd deploy/monitoring && promtool test rules gatehouse-alerts.test.yml)

step "Grafana dashboard: PromQL and metric names against a real /metrics"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# One server (the demo server on stdio) and one call through it, so the per-request
# families have a sample to print; a server behind an agent and an audit sink, so the
# per-agent and per-sink series (there from the start) print too.
cat >"$scratch/metrics.toml" <<TOML
listen = "127.0.0.1:$port"
database = "sqlite://$scratch/metrics.db"
[dev]
tokens = [{ token = "metrics-token", user = "ops", groups = ["engineers"] }]
[[servers]]
name = "demo"
command = "$bins/gatehouse"
args = ["demo-server"]
[[servers]]
name = "vnet"
agent = "edge"
[[audit.sinks]]
type = "jsonl"
name = "siem"
path = "$scratch/audit.jsonl"
TOML
env -u GATEHOUSE_DATABASE "$bins/gatehouse" serve --dev --config "$scratch/metrics.toml" >"$scratch/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
mcp() {
  curl -fsS -D "$scratch/headers" -o "$scratch/answer" "http://127.0.0.1:$port/mcp/demo" \
    -H 'Authorization: Bearer metrics-token' -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' "$@"
}
mcp -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-check","version":"1"}}}' \
  || fail "initialize through the gateway failed: $(tail -5 "$scratch/serve.log")"
sid="$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *//p' "$scratch/headers" | tr -d '\r')"
mcp -H "Mcp-Session-Id: $sid" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' \
  || fail "tools/list through the gateway failed: $(tail -5 "$scratch/serve.log")"
curl -fsS -o "$scratch/metrics.txt" "http://127.0.0.1:$port/metrics" \
  || fail "gatehouse serve did not answer /metrics: $(tail -5 "$scratch/serve.log")"
python3 tests/deploy/check_dashboard.py deploy/monitoring/gatehouse-dashboard.json "$scratch/metrics.txt" "$scratch/dashboard-rules.yml"
promtool check rules "$scratch/dashboard-rules.yml" >/dev/null || promtool check rules "$scratch/dashboard-rules.yml"
# The alert rules too name only real metrics (`up` is Prometheus' own).
names="$(grep -o 'gatehouse_[a-z_]*' deploy/monitoring/gatehouse-alerts.yml | sort -u)"
for n in $names; do
  grep -q "^# TYPE ${n%_total} \|^# TYPE $n " "$scratch/metrics.txt" || fail "the alert rules use $n, which /metrics does not have"
done

if [[ $images == 1 ]]; then
  step "container images (scripts/test-images.sh)"
  scripts/test-images.sh --binaries "$bins"
fi
step "deploy checks passed"
