#!/usr/bin/env bash
# The test command from the README: installs what is missing on a fresh
# machine (PostgreSQL 15 and contrib), then vets and runs every test with the
# race detector against real PostgreSQL clusters.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${PAGEMILL_PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ]; then
	echo "test.sh: installing postgresql-15 and postgresql-contrib" >&2
	if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql-15 postgresql-contrib
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go test -race -timeout 30m ./... "$@"
