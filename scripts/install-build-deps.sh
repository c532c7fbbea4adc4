#!/usr/bin/env bash
# System libraries the control plane links (SAML sign-in: samael → xmlsec, libxml2, OpenSSL;
# bindgen needs libclang). Installs the Debian packages that are missing; no-op otherwise.
set -euo pipefail
need=()
for pkg in pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]} == 0)); then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "install-build-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "install-build-deps: apt-get install ${need[*]}"
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
