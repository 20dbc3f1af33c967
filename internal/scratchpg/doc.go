// Package scratchpg gives the demo, the benchmarks and (through package
// pgtest, which adds testing.TB helpers) the tests a scratch PostgreSQL 15
// cluster that lives only as long as its owner. It does not import
// testing, so the pagemill binary can use it.
//
// # Contract
//
//   - Binaries come from [BinDir]: the PAGEMILL_PG_BIN environment variable
//     when set, else /usr/lib/postgresql/15/bin. [Options.BinDir] overrides
//     both for one cluster. The package keeps no package-level mutable state:
//     every setting lives in [Options] or in the [Cluster].
//
//   - [New] creates and starts a cluster; the caller owns it and must call
//     [Cluster.Close]. (pgtest.Start is the test form: it fails the test when
//     the cluster cannot be created and registers the cleanup.)
//
//   - Each cluster gets a fresh directory made with os.MkdirTemp("", "pgtest-")
//     (never t.TempDir(), whose parents are not traversable by another user and
//     whose long names overflow the unix socket path limit). Inside it are
//     data/ (the data directory, made by initdb with --auth=trust -U postgres,
//     -k when [Options.DataChecksums]), postgres.log (the server log written
//     by pg_ctl -l) and the server's unix socket.
//
//   - The server listens on 127.0.0.1 on a free TCP port found by binding
//     port 0 and closing it; if another process wins the race for that port
//     the start is retried with a new one. Its unix socket directory is the
//     cluster directory. pg_hba.conf trusts local and 127.0.0.1 connections
//     for all databases and for replication.
//
//   - Settings written to data/pgtest.conf (included from postgresql.conf):
//     listen_addresses, port, unix_socket_directories, wal_level (default
//     replica), full_page_writes (default on), wal_compression and
//     wal_consistency_checking when set, max_wal_senders=10 (0 when wal_level
//     is minimal, which PostgreSQL requires), max_replication_slots=10,
//     wal_keep_size=1GB, shared_buffers=32MB, fsync=on. [Options.ExtraConf]
//     is applied last and wins, e.g. {"fsync": "off"}. Values are written
//     quoted, so pass them unquoted.
//
//   - When the process runs as root (os.Geteuid() == 0, as on CI), the
//     programs that refuse root or must own the data directory (initdb,
//     pg_ctl, postgres, postmaster, pg_checksums, pg_resetwal, pg_rewind,
//     pg_upgrade) run as the "postgres" system user via
//     SysProcAttr.Credential, and the cluster directory is chowned to that
//     user. Client programs (psql, pgbench, pg_waldump, pg_basebackup,
//     pg_receivewal, ...) run as the current user so they can read and write
//     the caller's own files (t.TempDir() is 0700 root). When not root every
//     program runs as the current user.
//
//   - Programs run by the package get an environment without any inherited
//     PG* variables, plus PGHOST, PGPORT, PGUSER=postgres,
//     PGDATABASE=postgres, PGSSLMODE=disable, PGDATA and LC_ALL=C, and run in
//     the cluster directory. So [Cluster.Pgbench] and [Cluster.RunBin] need
//     no connection flags, and pg_waldump finds $PGDATA/pg_wal by itself.
//
//   - SQL helpers open one pgx v5 connection per call using the simple query
//     protocol, so several statements may be sent at once and every result
//     value is returned as its text form (NULL becomes ""). Methods return
//     errors; pgtest's test helpers (Exec, Query, CurrentWALLSN, ...) wrap
//     them and call t.Fatal.
//
//   - A failed start reports pg_ctl's output and the tail of the server log.
//
//   - Logging goes only through [Options.Logf] (discarded by default).
//
// A cluster whose owner is killed (for example by a go test timeout) cannot
// clean up after itself: its postmaster and /tmp/pgtest-* directory remain.
package scratchpg
