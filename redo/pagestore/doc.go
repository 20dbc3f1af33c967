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
// layout's version (FormatVersion, now 4) is recorded under m "format";
// a store of format 2 (no segments) or 3 (segments as values) is read as
// it is, one of another version is refused with how to rebuild it.
//
//	p db spc rel fork blk lsn tli → page version: kind, then the image,
//	                             the record, or a reason (a format-2
//	                             store also has packs of records here)
//	g seq                      → segment: one writer commit's records,
//	                             grouped by page behind a directory; on
//	                             disk, where it is in the segment files
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
// # Segments
//
// Records are most of what the materializer writes, and a commit changes
// thousands of pages: a key per page per commit made Badger's skiplist
// and value log the largest cost of materializing. So the records of one
// writer commit are one value, a segment: each page's records of the
// commit (a pack) one after another, sorted by page, behind a directory
// of (page, first and last LSN, offset, length). Which segments hold
// records of a page is kept in memory (a few bytes per page and
// segment) and rebuilt from the directories when the store opens.
//
// On disk a segment is not a Badger value but bytes appended to a
// segment file of the store's own (Dir/segments), written once by the
// commit that makes it, before it puts the key that points at it with a
// checksum of its header and directory (Badger's value log copied each
// segment twice more and synced it by msync). Sync syncs the segment
// files before Badger. A file
// goes when GC has deleted every segment in it; one a crash left with no
// key pointing in, when the store opens; a file GC retires stays open
// for reads already under way until the next GC.
//
// Images, records that carry an image of the page, and the unavailable
// and absent markers stay keys of their own, as the bases replay starts
// from. A read of a page at L takes the newest base at or below L and the
// records after it up to L from the segments that hold the page.
//
// Nothing is served from bytes that changed on disk after they were
// written: Badger checks the checksum of every value it reads from its
// value log (the images) and of every table block; a segment's header and
// directory are checked against the checksum in its key, and its records
// carry their WAL CRCs, checked when they are replayed. A value Badger
// could not read is ErrDamaged, naming its key.
//
// GC makes every page's version at the horizon an image (or a base key)
// and then deletes the segments wholly at or below the horizon; a
// segment across it stays until a later GC. A reader opens its
// transaction before it looks up the page index, and GC takes a segment
// out of the index before it deletes it, so a segment a reader finds is
// in its snapshot. A Snapshot, kept open across commits, passes over the
// segments committed after it, and refuses to answer once a Collect has
// run since it was made (ErrStaleSnapshot): the index has no versions.
//
// Keys are written idempotently: writing the version of a page at an LSN
// twice writes the same bytes. A replay after a crash writes its records
// into another segment, so a record may be stored twice; readers take
// each LSN once, so that is harmless too.
//
// # Durability
//
// Writes go through Writer, which buffers them and opens its Badger
// transaction only in Commit (opening one waits for every commit in
// flight), and whose Commit makes them visible; Sync makes
// everything committed so far durable (one fsync shared by all shards).
// The materializer acknowledges JetStream messages only after Sync.
package pagestore
