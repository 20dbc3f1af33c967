// Package bench is pagemill's benchmarks, each beside PostgreSQL's own
// tool for the same work on the same input, run by cmd/pagemill-bench:
//
//   - decode: reading, checking and decoding WAL beside pg_waldump;
//   - ingest: catching up on WAL into JetStream beside pg_receivewal;
//   - redo: in-memory redo, serial and page-parallel, beside PostgreSQL's
//     crash recovery of the same WAL;
//   - materialize: JetStream into the page store beside the same crash
//     recovery, then the live lag;
//   - restore: a data directory at an LSN that starts without replay,
//     beside cp -r of the source's data directory and a base backup with
//     archive recovery to the same LSN; then a rebuild of the page store.
//
// # Contract
//
//   - A [Scenario] is a name, its flags and a run; [Main] parses the flags
//     the harness shares (--json, --log-level, --dir) and the scenario's,
//     runs it and prints its [Report]: text tables as the benchmarks always
//     printed them, or with --json one JSON object with the same figures.
//     Exit status 0, 1 when the run failed, 2 for a usage error.
//   - Fixtures are shared by the scenarios: scratch PostgreSQL 15 clusters
//     (package internal/scratchpg, never the test helpers of
//     internal/pgtest: this package does not import testing), WAL
//     generation with pgbench or the index access methods' workloads,
//     PostgreSQL's crash recovery timed from its log ("redo done at …
//     elapsed"), and pagemill's parts running in this process (embedded
//     JetStream, ingest, the materializer, restore).
//   - Timings start after a sync(2), so that write-back of an earlier
//     phase does not land in them, and record the load average at their
//     start. Where a benchmark repeats a run, the best is reported.
//   - Nothing is global: the logger is passed in, every scratch directory
//     lives under --dir (default the system's) and is removed at the end.
package bench
