#!/usr/bin/env bash
# Runs every Gatehouse test on a fresh machine: installs the real peers the end-to-end
# tests drive (scripts/install-test-deps.sh), then formatting, lints and the whole
# workspace's tests. Honours CARGO_TARGET_DIR (CI keeps one outside the clone so
# rebuilds are incremental); works without it.
#
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "system libraries the build links (Debian)"
scripts/install-build-deps.sh

step "test peers (npm, PyPI) and the browser (Debian chromium, xvfb)"
scripts/install-test-deps.sh --browser

step "dashboard (ui/ -> ui/dist, embedded by the binary)"
scripts/build-ui.sh
(cd ui && npm run --silent typecheck)

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build (binaries the end-to-end tests launch)"
cargo build --workspace --bins --locked

step "dashboard API types (ui/src/api/schema.ts) match the OpenAPI document"
GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/gatehouse" scripts/gen-api-types.sh --check

step "container images: built on a Debian base and run from their own filesystems"
# Before the test binaries are built: the images' layers need disk space that the
# workspace's test binaries would otherwise hold on a small CI disk. The step removes
# its images when done.
scripts/test-images.sh --binaries "${CARGO_TARGET_DIR:-$root/target}/debug"

step "tests"
cargo test --workspace --locked "$@"

step "control-plane tests on PostgreSQL (throwaway clusters)"
scripts/test-postgres.sh --locked "$@"

step "dashboard in a real browser (Chromium, the real OpenID provider and MCP client)"
GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/gatehouse" tests/browser/run.sh

step "deployment: manifests, units, alert rules, the Azure guide's configs"
# (The container images are tested by their own step above.)
scripts/test-deploy.sh --no-images --binaries "${CARGO_TARGET_DIR:-$root/target}/debug"

step "all tests passed"
