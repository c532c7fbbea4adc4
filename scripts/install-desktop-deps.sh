#!/usr/bin/env bash
# Installs the Debian packages the Tauri tray app (desktop/) needs to build and to run its GUI
# smoke test: webkit2gtk 4.1, appindicator, rsvg, xdo (Tauri's Linux stack), a C toolchain,
# `file`, Xvfb + D-Bus (headless runs, Secret Service), imagemagick (screenshots), bc (bench) and
# gnome-keyring (a real Secret Service for the keyring test). Idempotent: installs only packages
# that are missing. Needs root (or install them yourself).
#
# Usage: scripts/install-desktop-deps.sh
set -euo pipefail

pkgs=(
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  build-essential file pkg-config libssl-dev
  xvfb dbus dbus-x11 imagemagick x11-apps gnome-keyring libsecret-tools bc
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-desktop-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || { echo "install-desktop-deps: error: need root to apt-get install ${missing[*]}" >&2; exit 1; }
echo "install-desktop-deps: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-desktop-deps: done"
