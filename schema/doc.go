// Package schema holds pagemill's formats: LSNs, relation and page tags,
// PostgreSQL 15 WAL pages and records, block references and full-page
// images, the record layouts of every built-in resource manager, page and
// tuple layouts, pg_control, WAL segments pagemill writes, and pagemill's
// own round header.
//
// # The path of one record
//
// Reading the package docs in import order follows one WAL record from the
// source to a served page:
//
//  1. schema (here): the bytes of a record become a DecodedRecord
//     (StreamReader), its block references say which pages it touches and
//     PagesChanged which pages it changes.
//  2. redo: the pure redo functions apply a DecodedRecord to the pages it
//     changes (Engine.Apply), byte for byte as PostgreSQL's redo would.
//  3. streams: the JetStream layout the record travels in (one subject per
//     shard of pages, a meta subject for records that change no page).
//  4. ingest: the record arrives over physical replication, is decoded
//     once, routed by PagesChanged and published in an atomic round.
//  5. redo/pagestore: where the page versions it makes are kept (Badger,
//     keyed by page and LSN).
//  6. redo/materialize/applier: the materializer's pure core applies it to
//     the current pages it owns (redo's engine) and says which versions to
//     write.
//  7. redo/materialize: the run's one consumer receives it, the dispatcher
//     decodes it once and hands it to the redo shards of the pages it
//     changes; each commits the versions its applier wrote to the page
//     store and wakes the waiters for that LSN.
//  8. serve: GetPage at an LSN waits for that notification, then reads the
//     page from the page store (an image plus the records after it,
//     replayed by redo), and sends it over pgwire.
//
// restore and redo/rebuild read the same streams and page store for
// disaster recovery; ops/node wires all of it into one process.
//
// Names mirror PostgreSQL's (XLogRecord, XLogPageHeaderData, RelFileNode,
// BlockNumber, DecodedBkpBlock) so the code can be read against
// access/xlogrecord.h, access/xlog_internal.h and access/xlogreader.c.
//
// Contract:
//   - StreamReader is a pure state machine: callers Write the WAL byte
//     stream (segment files or physical replication's XLogData) and pull
//     records with Next. It never yields a record whose CRC-32C fails or
//     that follows one that failed; every problem is a *WALError that names
//     the LSN, segment and offset and matches ErrEndOfWAL (the WAL ends
//     cleanly here) or ErrCorrupt.
//   - A DecodedRecord's LSN is where it starts and EndLSN where it ends
//     (PostgreSQL's EndRecPtr, what redo stores in pd_lsn).
//   - ImageRestorer rebuilds 8 KiB pages from images: hole, pglz, lz4, zstd.
//   - Each C struct of a record's data is decoded in one place, by a type
//     named after it (xl_heap_update is XlHeapUpdate, DecodeXlHeapUpdate),
//     with the opcodes declared beside it (*xlog.go); redo, the waldump
//     descriptions and routing all use these. PagesChanged says which
//     pages a record changes.
//   - TagMap is a map keyed by BufferTag for the paths that look a page up
//     per record.
//   - Everything is safe for use by one goroutine at a time per value; the
//     package has no mutable package-level state.
//   - Every package in pagemill may import schema; schema imports none of
//     them. schema does no I/O: WAL directories and pg_control are read
//     through an fs.FS the caller opens.
package schema
