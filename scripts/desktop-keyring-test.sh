#!/usr/bin/env bash
# Runs the token store's tests against a real Secret Service: a private D-Bus session with
# gnome-keyring (unlocked with an empty password), so the refresh token goes to the keyring
# and no file is written. (Without a Secret Service the same tests cover the 0600 file.)
#
# Usage: scripts/desktop-keyring-test.sh   (CARGO_TARGET_DIR defaults to /work/target-desktop)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-desktop}"
"$root/scripts/install-desktop-deps.sh"
cd "$root"
cargo test -j "${JOBS:-2}" -p gatehouse-desktop-core --lib --no-run
dbus-run-session -- bash -c '
  printf "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  GATEHOUSE_EXPECT_KEYRING=1 cargo test -p gatehouse-desktop-core --lib secrets:: -- --test-threads 1
'
