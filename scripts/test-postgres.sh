#!/bin/sh
# Runs the control plane's tests with every store on PostgreSQL: each test binary starts
# a throwaway cluster (initdb/pg_ctl as the `postgres` user, on a free loopback port) and
# stops it when it ends. Needs Debian's postgresql package (apt-get install postgresql);
# or point GATEHOUSE_TEST_DATABASE at a server: postgres://USER:PW@HOST:PORT/postgres.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${GATEHOUSE_TEST_DATABASE:-}" ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
        echo "PostgreSQL is not installed: apt-get install postgresql (or set GATEHOUSE_TEST_DATABASE=postgres://...)" >&2
        exit 2
    fi
    GATEHOUSE_TEST_DATABASE=postgres
fi
export GATEHOUSE_TEST_DATABASE
# The tests launch the `gatehouse` binary, which the gatehouse-cli package builds.
cargo build -p gatehouse-cli --bin gatehouse
exec cargo test -p gatehouse-control-plane "$@"
