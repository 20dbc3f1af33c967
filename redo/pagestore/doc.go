// Package pagestore keeps page versions in Badger: for every page (its
// BufferTag) the records that changed it and, every few records, a full
// image, each keyed by the LSN at which that version came to be (the end
// of the record, which is what redo writes into pd_lsn). The page as of
// LSN L is the newest image at or below L with the records after it, up to
// L, replayed by the redo engine; a reader never replays more than the
// materializer's image interval.
//
// It also keeps relation sizes by LSN, relation and database drops, the
// per-shard applied watermarks, the retention horizon and the base backup
// it started from. The package does no WAL reading and no waiting; the
// materializer (package materialize) writes it and serve reads it.
//
// # Keys
//
// All integers big-endian so that byte order is numeric order:
//
//	p db spc rel fork blk lsn  → page version: kind, then the image, the
//	                             records (see below), or a reason
//	s db spc rel fork lsn shard → relation size event: kind, nblocks
//	d db lsn                   → database dropped at lsn
//	a shard                    → applied LSN of the shard
//	m name                     → metadata (base backup, horizon)
//
// The records of a page that one writer puts between the page's other
// versions are one key (KindRecords, keyed by the first record's LSN),
// not one key per record: a key costs the LSM the same whatever it holds,
// and the hot pages of a workload get thousands of records per commit.
// A read at an LSN inside a pack replays its records up to that LSN.
//
// Keys are written idempotently: writing the version of a page at an LSN
// twice writes the same bytes. A replay after a crash may pack records
// differently and so put a record under two keys; readers take each LSN
// once, so that is harmless too.
//
// # Durability
//
// Writes go through Writer, whose Commit makes them visible; Sync makes
// everything committed so far durable (one fsync shared by all shards).
// The materializer acknowledges JetStream messages only after Sync.
package pagestore
