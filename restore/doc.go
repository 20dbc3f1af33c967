// Package restore builds a runnable PostgreSQL 15 data directory as of an
// LSN from what pagemill keeps: the page store (relation pages, pg_xact,
// pg_multixact, relation maps, all versioned by LSN, and the transaction
// index), the base backup's other files in the object store, and — for
// the fallback only — the WAL records in the stream.
//
// # Design: a clean shutdown at the target, no replay
//
// The data directory at L holds every relation page as of L, pg_xact,
// pg_multixact (offsets and members) and the relation maps as of L, the
// database directories existing at L, the state files (pg_twophase) of the
// transactions prepared at L, and a pg_control describing a clean shutdown
// whose checkpoint record — a shutdown checkpoint with its redo point at
// itself — sits right after L in the only WAL segment, written with its
// page headers and CRC (schema.WriteShutdownCheckpoint). PostgreSQL starts
// on it without recovery, its WAL continuing after L on the source's
// timeline. What recovery would otherwise have done is done here:
//
//   - Control data as of L (materialize.Materializer.ControlAt): the
//     newest checkpoint record at or before L, its next xid raised past
//     every transaction id the records up to L show (each shard indexes
//     the newest it saw; an upper bound is harmless, a lower one is not),
//     next OID from NEXTOID, multixact counters from CREATE_ID, the oldest
//     xid and multixact from the truncations, and the settings of the
//     newest PARAMETER_CHANGE. The pages PostgreSQL's start reads for the
//     next xid, multixact and member offset are written, zero if nothing
//     was on them at L.
//   - Transactions in flight at L need nothing: with no process holding
//     them, an xid below the next xid that pg_xact does not mark committed
//     reads as aborted. Prepared ones get their state files: the PREPARE
//     records' data (indexed by the materializer) and the base backup's
//     state files, less those a COMMIT/ROLLBACK PREPARED at or before L
//     ended.
//   - Unlogged relations are as recovery leaves them: the init fork, and
//     a main fork that is a copy of it.
//
// Commit timestamps (pg_commit_ts), statistics, replication slots and
// pg_subtrans (rebuilt at startup) are not restored.
//
// # The fallback: WAL replay
//
// Two cases cannot be written as a clean shutdown, and get the older
// design instead — the pages at L plus the WAL from the redo point R of
// the newest checkpoint record at or before L up to L, rebuilt byte for
// byte from the stream, and a pg_control "in production" naming that
// checkpoint, so that PostgreSQL runs crash recovery from R to L:
//
//   - a page that cannot be reconstructed at L (a record whose redo
//     pagemill does not support changed it) but whose full-page image
//     after R restores it during replay: it is written as zeros;
//   - a transaction index that does not reach back to R (a page store
//     from before the index, or imported from a snapshot, until its
//     first checkpoint): the control data at L is not known.
//
// Replay then also re-applies what the WAL tail does to pg_xact,
// pg_multixact, relation maps, the control data and prepared transactions.
//
// # Output
//
// Backup.Write produces a tar stream (what the serve package's basebackup
// command sends and `pagemill restore` unpacks), its first entry carrying
// the target LSN and the estimated size as a pax comment; Backup.WriteDir
// writes the files into a directory directly: pages read in parallel from
// the page store (Store.PagesAt, a chunk of a relation at a time), zero
// pages left as holes, one sync of the file system at the end.
// Tablespaces other than pg_default and pg_global are restored in place:
// as directories under pg_tblspc instead of links to other file systems
// (PostgreSQL 15 reads both alike; move them and link them back to put
// them elsewhere).
package restore
