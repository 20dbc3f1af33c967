#!/usr/bin/env bash
# The test command from the README: installs what is missing on a fresh
# machine (PostgreSQL 15 and contrib), then vets and runs every test with the
# race detector against real PostgreSQL clusters.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-postgres.sh

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
# The layer rules read the import graph with `go list`, which the test
# cache does not see: never take their result from the cache.
go test -count=1 ./internal/archtest
go test -race -timeout 30m ./... "$@"
