// Package applier is the materializer's pure core: given decoded WAL
// records in LSN order, it keeps the current version of the pages it owns
// (a bounded cache over the page store), applies each record with the redo
// engine, and says what to write — page versions (a record as a delta, a
// full image, a page made unavailable or absent), relation sizes and
// checkpoints — to a Sink. It reads the page store only through the narrow
// Store interface. It imports no JetStream, Badger, network or file types,
// so its behaviour is tested from recorded WAL alone (testdata/), and the
// driver around it (package materialize) owns consumers, batching, commits,
// syncs and acknowledgements.
//
// # Contract
//
//   - Records come in LSN order. A record at or below a page's newest
//     stored version (a replay after a crash) writes nothing for that page:
//     the store already holds that record's version, and the cached page
//     may be ahead of it.
//   - A version is written for every owned page a record changes: an image
//     when the record restored one or the page has gone ImageEvery records
//     without one, the record itself otherwise. A page redo could not make
//     exactly is written unavailable, with the record named in the reason;
//     a page the store could not read fails the record (a passing store
//     error must not become a permanent unavailable page).
//   - Before a read of the store that must see this applier's own earlier
//     writes (relation-level changes, database copies, SLRU truncation) it
//     calls Sink.Flush.
//   - A page's chain since its last image is bounded by ImageEvery
//     whether or not it stays cached. An evicted page goes to the
//     Config's Spill when there is one with room: between records once
//     the cache holds twice its bound, and at Evict down to the bound. A
//     tag is in the cache or the spill, never both; relation-level changes
//     and restored images drop it from either. Otherwise eviction (at
//     Evict only) writes an image of a page
//     whose chain is EvictImageAfter or longer (at the page's newest
//     version, which it equals), so a reload reads one image; a record at
//     that LSN stored alone gives way to the image, which is the same
//     page.
//   - Relation-level changes (smgr create and truncate, relation and
//     database drops, database copies) are applied to the pages this
//     applier owns; relation sizes are written by the applier whose Config
//     has Sizes set (one per materializer), page-extension sizes by every
//     applier under its own ID.
//   - One goroutine at a time; no package-level mutable state.
package applier
