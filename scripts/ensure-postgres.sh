#!/usr/bin/env bash
# Makes sure PostgreSQL 15 and its contrib modules are installed where
# pagemill looks for them (PAGEMILL_PG_BIN, default /usr/lib/postgresql/15/bin).
# As root it installs them with apt-get (Debian 12 has postgresql-15); as
# anyone else it prints the exact command and fails, so nothing here ever
# asks for a password. Sourced or run by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

PGBIN=${PAGEMILL_PG_BIN:-/usr/lib/postgresql/15/bin}
PKGS="postgresql-15 postgresql-contrib"
# contrib's bloom module is needed by the tests and the index-AM workloads.
PGSHARE=${PGBIN%/bin}
if [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_waldump" ] && ls "$PGSHARE"/lib/bloom.so >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	cat >&2 <<MSG
PostgreSQL 15 (with contrib) is not installed in $PGBIN.
Install it, then run this again:

    sudo apt-get update && sudo apt-get install -y $PKGS

(or point PAGEMILL_PG_BIN at the bin directory of an existing PostgreSQL 15).
MSG
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-postgres.sh: no apt-get here; install PostgreSQL 15 with contrib and set PAGEMILL_PG_BIN to its bin directory" >&2
	exit 1
fi
echo "ensure-postgres.sh: installing $PKGS" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PKGS
