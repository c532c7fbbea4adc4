#!/bin/sh
# Mutation tests of the audit log: alters a real store in each way an attacker with
# database access could (changed, removed, inserted, reordered, unlinked events; a
# truncated tail; a rewritten and re-hashed tail; a forged checkpoint; a cut head) and
# expects `gatehouse audit verify` to name each one. On SQLite, then on a throwaway
# PostgreSQL (needs Debian's postgresql). Pruning cases (forged or missing retention
# anchors, deletion outside retention) are in control-plane/tests/retention.rs.
set -eu
cd "$(dirname "$0")/.."
# `gatehouse audit verify` is the binary the gatehouse-cli package builds.
cargo build -p gatehouse-cli --bin gatehouse
cargo test -p gatehouse-control-plane --test audit_mutations "$@"
GATEHOUSE_TEST_DATABASE=postgres cargo test -p gatehouse-control-plane --test audit_mutations "$@"
