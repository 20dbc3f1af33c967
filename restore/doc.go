// Package restore builds a runnable PostgreSQL 15 data directory as of an
// LSN from what pagemill keeps: the page store (relation pages, pg_xact,
// pg_multixact, relation maps, all versioned by LSN), the base backup's
// other files in the object store, and the WAL records in the stream.
//
// Design: the data directory holds every page as of the target LSN L and
// the WAL from the redo point R of the newest checkpoint record ending at
// or before L up to L, and its pg_control names that checkpoint and says
// "in production". PostgreSQL starting on it runs crash recovery from R to
// the end of the WAL, which is L, then opens as a primary at L on the same
// timeline; transactions in flight at L are aborted as after any crash.
// This is the state a crash-consistent snapshot of the source at L would
// have, except that pages are exactly at L instead of somewhere before it,
// which replay tolerates the same way (with full_page_writes the first
// change of a page after R restores its image; later changes are skipped
// because the page LSN is already past them). Replay also re-applies what
// the WAL tail does to pg_xact, pg_multixact, relation maps and the
// control data (next xid, oid, multixact), so pagemill's copies only need
// to be right up to R. The free space map is left out (PostgreSQL treats
// a missing FSM as empty and VACUUM rebuilds it). Tablespaces other than
// pg_default and pg_global are restored in place: as directories under
// pg_tblspc instead of links to other file systems (PostgreSQL 15 reads
// both alike; move them and link them back to put them elsewhere).
// pg_twophase state, statistics and replication slots are not restored.
//
// The output is a tar stream (Backup.Write); the same stream is what the
// serve package's basebackup command sends and `pagemill restore` unpacks.
package restore
