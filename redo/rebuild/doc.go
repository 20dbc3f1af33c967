// Package rebuild recreates a page store from the streams alone — the base
// backup (or the oldest snapshot kept) in the object store, then the WAL
// records — and looks after page stores that cannot be trusted.
//
// # Contract
//
//   - OpenSource finds what a rebuild reads (DiscoverLayout: the only
//     PM_WAL_<sysid> stream unless a system id is given, the shard count
//     from the stream's metadata, the newest round's timeline) and checks
//     that it can rebuild a page store: a completed base backup, and the
//     WAL from the starting point on (the oldest snapshot's sequence, or
//     the base backup's start LSN, still in the stream). It reads the
//     target, the end of the last round on the meta subject. It changes
//     nothing in JetStream.
//   - Run fills an absent or empty directory (PrepareDir refuses a
//     non-empty one unless forced, and then moves it aside) with the
//     materializer `pagemill run` uses, under its own durable consumers
//     (ConsumerPrefix, so a rebuild never takes those of a running node),
//     until every shard has applied the target; then it syncs and closes
//     the store and deletes its consumers. Progress is reported to a
//     callback; nothing is printed.
//   - Quarantine: OpenStore opens a page store and checks its own records;
//     a store that is damaged (Badger reports corruption or panics, the
//     base backup record or a watermark is unreadable or behind the base,
//     or MarkDamaged recorded that a read found it damaged) is moved aside to DIR.broken-<timestamp> and an empty one opened in
//     its place. Errors of the environment (another process holds the
//     store, permissions, a full or failing disk) are returned as they
//     are: the store may be fine. Nothing is moved while a process holds
//     the directory (Badger flocks it).
//   - Metrics (registry passed in): pagemill_rebuild_wal_bytes,
//     _wal_target_bytes, _base_pages, _page_versions, _records, _seconds,
//     _done and pagemill_rebuild_stores_moved_aside_total.
package rebuild
