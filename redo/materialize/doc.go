// Package materialize is the continuous background materializer: it turns
// the WAL events in JetStream into page versions in the page store
// (package pagestore), proactively, and answers reads of a page at an LSN,
// waiting for the WAL to be applied when needed.
//
// # Contract
//
//   - One durable pull consumer per run (pm_redo_<tli>_<generation>) on
//     every subject of the timeline, in stream order, AckAll: a message is
//     acknowledged, with every earlier one, once all up to it are durable
//     (one acknowledgement per run of them, not one per message). Every
//     Run deletes the old consumers (of older generations and of the
//     older one-consumer-per-shard design) and creates a new one starting
//     after the lowest stream sequence a shard's store covers; a consumer
//     that comes back with old delivery state is refused, never followed.
//     A dispatcher goroutine decodes each message's records once and
//     hands them over channels to the shards: a shard subject's records
//     to its shard, the meta subject's (shared read-only) all to shard 0
//     (transaction index, sizes, checkpoints) and to the other shards
//     only those they have work for: relation-level changes and SLRU
//     truncation to every shard, a commit to the shard of its CLOG page.
//     A whole round (one meta message, streams.HdrWhole) is split: its
//     page records go to the shards of their pages first, as its shard
//     messages would have, then the rest as its meta message; the
//     message is acknowledged once every shard given a part made it
//     durable.
//     Each shard has its own redo goroutine around a pure applier
//     (package applier): shards apply in parallel, each in LSN order,
//     and skip what their store already has. Current pages evicted from a
//     shard's cache go to its spill file (Config.SpillPages), unlinked
//     when made and gone with the run: it may hold versions that are not
//     durable yet. Each shard hands a finished batch to its own committer
//     goroutine and applies the next while it commits (one commit in
//     flight a shard). The shard's store reads wait for that commit, except
//     loads of pages the batch in flight did not leave only to the store:
//     those read a snapshot made after the shard's previous commit, which
//     waits for no other commit (pagestore.Snapshot). A message is
//     acknowledged once every shard it went to has made it durable.
//   - Timelines: the materializer applies the page store's timeline.
//     When ingest records the history of a newer timeline that descends
//     from it, the materializer applies every round of its timeline (up to
//     the switch point, and past it if the old primary wrote more: an
//     abandoned branch), moves the store to the new timeline
//     (pagestore.Store.SwitchTimeline: applied LSNs come down to the
//     switch point, read caches are dropped, the abandoned branch is no
//     longer read) and goes on with the new timeline's rounds. Reads at
//     LSNs past the switch point then wait for the new timeline.
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
//     shards' goroutines step aside between batches while their input is
//     less than half full, so the awaited shard gets the cores (the page
//     someone waits for jumps the queue) without stopping the shared feed.
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
