#!/usr/bin/env bash
# The README's first command: installs PostgreSQL 15 if it is missing
# (scripts/ensure-postgres.sh), then runs `pagemill demo` with the
# arguments given (e.g. --seconds 5 --scale 2).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-postgres.sh
exec go run ./cmd/pagemill demo "$@"
