// Package node is one pagemill process: the embedded (or external) NATS
// JetStream connection, ingest, the materializer and its page store, the
// restore hook, the pgwire server and the HTTP endpoints, wired once for
// `pagemill run`, `pagemill demo`, `pagemill rebuild` and the test
// pipeline.
//
// # Contract
//
//   - New checks a Config and fills its defaults; it does no I/O. Run does
//     everything and owns every goroutine it starts: they all run on Run's
//     context and have ended when Run returns. One part ending (an error,
//     or a server that stopped) stops the others; Run returns the first
//     error, nil when ctx ended. Shutdown is in order: the servers, ingest
//     and the materializer stop, the page store is closed, then the NATS
//     connection and the embedded server.
//   - Following a source (Config.Source): NATS, then ingest; once ingest
//     has identified the source, its streams are ensured and the page
//     store opened — a damaged one is moved aside and rebuilt from the
//     streams (package redo/rebuild), whose progress is logged — and the
//     materializer runs, with its retention, snapshots and trimming. The
//     pgwire server answers status and waits from the start; pages once
//     the materializer is ready, which closes Ready. A materializer that
//     stops on a damaged page store (pagestore.ErrDamaged) leaves it
//     marked (rebuild.MarkDamaged), so the next start moves it aside.
//   - Rebuilding (Config.Rebuild): NATS, then redo/rebuild's Run into the
//     page store directory, and Run returns when every shard applied the
//     last round the stream held at the start (Ready is closed then).
//   - Nothing is global: the logger and the Prometheus registry are
//     passed in; signals are the caller's (Run ends with its context); so
//     is the Go heap's memory limit.
package node
