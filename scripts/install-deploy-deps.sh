#!/usr/bin/env bash
# Installs what the deployment checks (scripts/test-deploy.sh) use, from Debian and PyPI only:
#   - kubectl (Debian's kubernetes-client, when no kubectl is present) for `kubectl kustomize`;
#   - promtool (Debian's prometheus) for the alert rules;
#   - systemd-analyze (Debian's systemd) for the units;
#   - mmdebstrap and buildah (Debian) for the image test, unless --no-images;
#   - a Python venv at .test-deps/deploy-venv with tests/deploy/requirements.txt
#     (kubernetes-validate: the Kubernetes API schemas, offline).
# Idempotent; apt-get runs only for what is missing (as root).
#
# Usage: scripts/install-deploy-deps.sh [--no-images]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.test-deps/deploy-venv"
req="$root/tests/deploy/requirements.txt"

step() { printf 'install-deploy-deps: %s\n' "$*"; }
die() { printf 'install-deploy-deps: error: %s\n' "$*" >&2; exit 1; }

images=1
for arg in "$@"; do
  case "$arg" in
    --no-images) images=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument $arg (usage: install-deploy-deps.sh [--no-images])" ;;
  esac
done

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [[ $images == 1 ]]; then
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v buildah >/dev/null || missing+=(buildah)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  step "kubectl, promtool, systemd-analyze$([[ $images == 1 ]] && echo ', mmdebstrap, buildah') present"
else
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install ${missing[*]} (or install them yourself)"
  step "installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  # policy-rc.d 101: the prometheus package must not start a server on this machine.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

stamp="$venv/.gatehouse-stamp"
want="$(sha256sum "$req" | cut -c1-64)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/kubernetes-validate" ]]; then
  step "python venv up to date (.test-deps/deploy-venv)"
else
  if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >/dev/null 2>&1 || {
      rm -rf "$venv"
      [[ "$(id -u)" == 0 ]] || die "python3 -m venv failed; install python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
      python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    }
  fi
  step "pip install -r tests/deploy/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" || die "pip install failed"
  printf '%s\n' "$want" >"$stamp"
fi
step "done"
