// Package schema holds pagemill's formats: LSNs, relation and page tags,
// PostgreSQL 15 WAL pages and records, block references and full-page
// images, and (later) page layouts and pagemill's own event encodings.
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
//   - Everything is safe for use by one goroutine at a time per value; the
//     package has no mutable package-level state.
//   - Every package in pagemill may import schema; schema imports none of
//     them.
package schema
