// Package redo re-implements PostgreSQL 15's redo in Go: pure functions that
// apply one decoded record (schema.DecodedRecord) to the pages it changes —
// no I/O, no locks, deterministic — for heap, heap2, btree, hash, GIN, GiST,
// SP-GiST, BRIN, generic WAL, sequences and XLOG full-page images. Each is
// named after the C function it mirrors (heap_xlog_insert is heapInsert).
// Engine.Apply is the entry point; the masks of wal_consistency_checking
// (MaskPage) and Verify compare its pages with PostgreSQL's.
//
// It is used by redo/materialize (the background materializer, which keeps
// the results in redo/pagestore) and by the page store's reads, which
// replay the records after a page's last image. Those subpackages do the
// I/O; this package does none.
//
// Contract: a page version produced by a record is known by the record's
// end LSN; a record that cannot be applied exactly makes the page
// unavailable until a full-page image repairs it.
package redo
