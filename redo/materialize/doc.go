// Package materialize is the continuous background materializer: it turns
// the WAL events in JetStream into page versions in the page store
// (package pagestore), proactively, and answers reads of a page at an LSN,
// waiting for the WAL to be applied when needed.
//
// # Contract
//
//   - One durable pull consumer per shard (pm_redo_<tli>_sNNN_<generation>),
//     filtered on the shard's subject and the meta subject, explicit ack.
//     Every Run deletes the shard's old consumers and creates a new
//     generation starting after what the store covers; a consumer that
//     comes back with old delivery state is refused, never followed. Each shard has
//     its own redo goroutine, fed by a channel from its consumer: shards
//     apply in parallel, each in LSN order.
//   - A shard's applied LSN is the end of the last ingest round (the meta
//     subject's round marker) whose records for that shard are all in the
//     page store. It is written in the store with the pages it covers, in
//     one commit. Commits are made durable in the background, one sync
//     for all the batches committed since the last (at most one per
//     SyncInterval); JetStream messages are acknowledged only after that,
//     and the shard's durable LSN follows. Reads use committed versions
//     at once: they are a function of the stream, so a crash before the
//     sync only means making them again. Retention never moves the
//     horizon past the durable LSN. A record
//     at or below the applied LSN is skipped on redelivery, and every page
//     version is keyed by LSN, so replaying after a crash writes the same
//     bytes again: nothing is lost and nothing doubled.
//   - Waiters (WaitShard, WaitAll, PageAt) park on a channel that the shard
//     closes and replaces when its applied LSN advances: no polling, and no
//     lock is held while waiting. While someone waits on a shard, the other
//     shards' goroutines step aside between batches, so the awaited shard
//     gets the cores (the page someone waits for jumps the queue).
//   - Reads (PageAt, RelSize, DBSize, Relations) reconstruct from the store
//     on a bounded pool; concurrent reads of the same page version share
//     one reconstruction.
//   - The starting state is the ingest's base backup (object store), imported
//     as page images at its start LSN; reads below its end LSN, where the
//     backup is not consistent, are refused (the retention horizon starts
//     there).
//   - Relation-level records (smgr create/truncate, relation drops at commit
//     or abort, database copy/drop) reach every shard on the meta subject;
//     each shard applies them to its own pages, shard 0 writes the sizes.
package materialize
