#!/usr/bin/env bash
# Builds the dashboard (ui/ → ui/dist), which the `gatehouse` binary embeds at compile
# time (control-plane/build.rs). Installs Node from Debian when missing; `npm ci` only
# when ui/node_modules does not match the lockfile.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/ui"
if ! command -v npm >/dev/null; then
  [[ "$(id -u)" == 0 ]] || { echo "build-ui: npm is missing; install Node.js 20+ (or run as root to apt-get it)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
stamp=node_modules/.gatehouse-lock
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "build-ui: npm ci in ui/"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run build --silent
echo "build-ui: ui/dist built"
