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
// All integers big-endian so that byte order is numeric order. The key
// layout's version (FormatVersion, now 2) is recorded under m "format";
// a store of another version is refused with how to rebuild it.
//
//	p db spc rel fork blk lsn tli → page version: kind, then the image,
//	                             the records (see below), or a reason
//	s db spc rel fork lsn shard tli → relation size event: kind, nblocks
//	a shard                    → applied LSN of the shard
//	m name                     → metadata (format, timeline history,
//	                             system, base backup, horizon)
//
// # Timelines
//
// A version and a size event carry the timeline that wrote them (tli).
// The store follows one timeline history (schema.TimeLineHistory, m
// "history"): a timeline is its parent up to the switch point, then its
// own records, as PostgreSQL's history files say. Reads pass over what a
// timeline wrote where the history does not give it the LSN: after a
// failover, the records the old primary wrote past the switch point (an
// abandoned branch) stay stored and are never read, and GC deletes them
// once they are below the horizon. SwitchTimeline moves the store to a
// timeline that continues its history: applied LSNs past the switch point
// come down to it, and the WAL and transaction indexes, which describe one
// history, lose their entries past it. A branch at an LSN would be the
// same model: a child timeline whose parent ends there.
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
