#!/usr/bin/env bash
# GUI smoke test of the tray app: builds desktop/app and the `gatehouse` CLI, then runs
# tests/tests/desktop_gui.rs under Xvfb with a D-Bus session (sign-in at the real OpenID
# provider, screenshots into desktop/app/screenshots/).
#
# Usage: [APP_TARGET_DIR=...] scripts/desktop-smoke.sh   (CARGO_TARGET_DIR defaults to desktop/app/target)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/desktop/app/target}"
"$root/scripts/install-desktop-deps.sh"
"$root/scripts/install-test-deps.sh" >/dev/null
# The app is its own workspace; APP_TARGET_DIR may differ from the root workspace's.
app_target="${APP_TARGET_DIR:-$CARGO_TARGET_DIR}"
(cd "$root/desktop/app" && CARGO_TARGET_DIR="$app_target" cargo build -j "${JOBS:-2}")
export GATEHOUSE_DESKTOP_BIN="$app_target/debug/gatehouse-desktop"
cd "$root"
cargo build -j "${JOBS:-2}" -p gatehouse-cli --bin gatehouse
xvfb-run -a -s "-screen 0 1024x768x24" dbus-run-session -- \
  cargo test -j "${JOBS:-2}" -p gatehouse-e2e --test desktop_gui -- --ignored --nocapture
echo "desktop-smoke: screenshots in desktop/app/screenshots/"
