// Package streams is pagemill's event log on NATS JetStream: the streams,
// subjects, buckets and their configuration in one place, the atomic batch
// publish that ingest writes rounds with, and an embedded nats-server for
// single-node deployments and tests. JetStream is the source of truth;
// everything downstream is rebuilt from it.
//
// # Names
//
// Everything belongs to one source system, named by PostgreSQL's database
// system identifier (pg_control's system_identifier, decimal below):
//
//	WAL stream          PM_WAL_<sysid>                one per source system, every timeline
//	stream filter       pm.<sysid>.*.wal.>
//	shard subject       pm.<sysid>.<tli>.wal.s<NNN>   NNN = shard, three decimal digits (s000..s999)
//	meta subject        pm.<sysid>.<tli>.wal.meta
//	object store        pm_base_<sysid>               the base backup
//	key-value bucket    pm_state_<sysid>              small state, history 1
//
// Layout computes every name; ParseShardSubject reads a shard or meta
// subject back (canonical spelling only, so names round-trip). Timelines
// live in subjects, not stream names: a promotion to timeline 2 keeps
// writing to the same stream, and a consumer filtered on
// pm.<sysid>.1.wal.s003 never sees timeline 2's events for shard 3. Names
// use only [0-9A-Za-z_.] (dots only in subjects), so they are valid
// subjects, stream names and bucket names. The state bucket holds each
// timeline's history file under timeline.<tli> (KeyTimelineHistory),
// written by ingest before the timeline's first round: a reader goes
// through a timeline's rounds up to its switch point in the next
// timeline's history, then to that timeline's subjects.
//
// # Shards
//
// A record that changes pages goes to the shard subject of each page it
// changes — ShardOf(tag, Shards) over the page's BufferTag — once per shard:
// a record changing pages on shards 2 and 5 is on s002 and on s005. ShardOf
// is FNV-1a 64 over the tag's fields (little-endian), MurmurHash3's fmix64
// finalizer, then a multiply-high reduction to [0, Shards); its doc comment
// is the exact definition and TestShardOfGolden pins it. It is part of the
// stored data (since LayoutVersion 1): never change it without a version bump and
// a migration. It spreads one relation's consecutive blocks over all shards,
// so a hot relation loads every shard.
//
// The materializer's redo shards are its own and need not match the
// stream's: it routes each record to the redo shards of the pages it
// changes. With one shard subject (the default) every record is
// published, stored and decoded once; more subjects only repeat records
// that change pages of several.
//
// The shard count (default 1) is fixed per stream: Ensure writes it and the
// layout version into the stream's metadata (pagemill.shards,
// pagemill.layout) and refuses to reopen the stream with other values
// (ErrLayoutMismatch), since a different count would move pages to other
// subjects.
//
// # The meta subject
//
// The meta subject carries (1) the records that change no page — no block
// reference and no implicitly cleared visibility-map page: transaction
// commits and aborts, checkpoints, running-xacts, relation-map and other
// control records — and (2) the ingest progress markers. The contract: every
// atomic round ends with a meta message (it may hold no records; if the
// round's meta records are split over several messages, the last of them),
// whose headers carry the round's start and end LSN (ingest's Pm-Round-Start
// and Pm-Round-End). It is the round's commit message. Because rounds are
// atomic, the last message on the meta subject is then always a progress
// marker, and its end LSN is where a restarted ingest resumes:
// LastMsgOnSubject(ctx, stream, layout.MetaSubject()), which reads from the
// stream leader (the WAL stream has AllowDirect off, so no lagging replica
// answers with an older marker). It answers ErrNoMessage on a new stream.
//
// # Whole rounds (layout version 2)
//
// A round whose records fit one message is published as that one message
// on the meta subject, with a plain (deduplicated) publish instead of an
// atomic batch: its batch holds every record of the round once, in LSN
// order, those that change pages too, and it carries HdrWhole ("1") and
// the round's start and end like any round's meta message. A consumer
// reads its page records as the round's shard messages would have been,
// then the rest as its meta message. A stream written with layout version
// 1 has no whole rounds and is read the same way; Ensure records the
// current version, so a version-1 build refuses the stream once a
// version-2 build has written to it.
//
// A consumer of one shard that also needs round boundaries (to know "every
// record below LSN X for my pages is applied") filters on both its shard and
// the meta subject, and takes its pages' records from whole rounds;
// JetStream consumers accept several filter subjects.
//
// # Ordering and atomic rounds
//
// The stream sequence is the total order. Ingest publishes each round — the
// records between two flush points, split per subject — as one JetStream
// atomic batch (PublishAtomic): the server stores all messages of the batch
// or none, on consecutive stream sequences, in publish order (message gets
// are isolated from a batch being applied; a consumer may be delivered the
// first messages of a committed batch before the rest). Within a subject,
// records are in LSN order. The server keeps the batch headers on the stored
// messages: Nats-Batch-Id, Nats-Batch-Sequence 1..n, and Nats-Batch-Commit:
// 1 on the last, so a consumer can see round boundaries.
//
// The protocol (ADR-50, nats-server 2.12+; the stream needs
// AllowAtomicPublish): every message carries Nats-Batch-Id (at most 64
// characters) and Nats-Batch-Sequence (1..n, no gaps); the last also
// Nats-Batch-Commit: 1. The server stages messages until the commit, checks
// the whole batch (limits, duplicates, expected-sequence headers) and then
// commits it whole. A staged message that carries a reply subject is
// answered with an empty message once staged, or with a PubAck error; the
// commit is answered with a PubAck naming the batch and its size, whose
// sequence is the batch's last. Messages without a reply subject get no
// answer even on error (the batch is dropped, and the commit then answers
// "incomplete"), so PublishAtomic puts a reply on every message, keeps at
// most 64 messages (16 MiB) unanswered for flow control, and stops at the
// first error. Limits: 1000 messages per batch (the server's default
// max_batch_size), 50 batches in flight per stream and 1000 per server, and
// a staged batch is dropped after 10 s without a message. The server rejects
// Nats-Expected-Last-Msg-Id inside a batch. A new batch that reuses the id
// of one still staged makes the server drop both (ErrBatchIncomplete; the
// next attempt succeeds); PublishAtomic releases its own staged batch at
// once when it fails before the commit.
//
// # Deduplication
//
// Every message carries a deterministic Nats-Msg-Id (ingest derives it from
// the round's end LSN, the subject and the chunk), remembered for the
// duplicate window (default 2 minutes; the server rebuilds the window from
// the stored ids after a restart). In an atomic batch, a message id the
// stream already holds rejects the whole batch with "atomic publish batch
// contains duplicate message id" (err_code 10201): ErrDuplicateBatch, and
// nothing is stored. For a retried round that means "stored by an earlier
// attempt", and the caller treats it as success. If the earlier attempt is
// still being committed by a clustered leader the answer is
// ErrDuplicateInFlight (err_code 10158) instead; retry it.
//
// # What a caller does when a publish fails
//
// ErrStreamFull, ErrInvalidBatch: not retryable (see below for a full
// stream). Retryable(err) — ErrPublishTimeout, ErrNoResponders,
// ErrBatchIncomplete, ErrDuplicateInFlight, ErrServerBusy, a reconnecting
// connection: publish the identical batch again (same messages, same ids,
// any batch id), with a short backoff, until it succeeds or answers
// ErrDuplicateBatch. This is what happens while a clustered stream elects a
// new leader, or while a majority is down: the publish times out (the old
// leader took the messages and cannot commit) or finds no responder (no
// leader listens), and a retry lands once a leader is back. A timeout after
// the commit was sent (PublishError.CommitSent) leaves the outcome unknown;
// the retry settles it. Never give up and move on to the next round: the
// flush position reported to PostgreSQL must not pass an unacknowledged
// round.
//
// Deduplication only covers the duplicate window. If retries go on for
// longer than that (an outage of minutes), a blind retry of a round that was
// in fact committed would store it twice: past the window, first read the
// last progress marker (LastMsgOnSubject on the meta subject) and republish
// only if the round's end LSN is beyond it.
//
// # Retention
//
// The WAL stream is file storage with Limits retention and Discard: New. A
// full log pushes back on ingest instead of dropping records: when MaxBytes
// is reached, publishes fail with ErrStreamFull and store nothing, earlier
// messages stay, and ingest stops acknowledging WAL to PostgreSQL (which
// keeps it in its slot) until there is room. Config.MaxBytes and MaxAge
// remain available as hard limits for operators, but `pagemill run` sets
// neither: the stream must always reach back to the oldest kept snapshot
// (or the base backup), which an age limit cannot know. Instead the
// materializer purges it below the WAL that the snapshot covering the
// retention window needs, after deleting older snapshots (see
// redo/materialize: snapshot.go).
//
// DenyDelete is set (and cannot be undone on the server): deleting one
// message would leave a hole that no consumer can tell from a lost record.
// Purge stays allowed (DenyPurge would also be permanent) because it is the
// operator's tool for trimming a full stream; rollups are off.
//
// # Buckets
//
// pm_base_<sysid> (object store) holds the base backup; pm_state_<sysid>
// (key-value, history 1) holds small state such as consumer positions. Both
// are file storage with the stream's replica count. Their reads use direct
// get and may be answered by any replica, so a value just written may not be
// visible on another replica yet; keep anything that must be read back
// exactly in the WAL stream.
//
// # Servers
//
// StartEmbedded runs nats-server in process with JetStream, file store under
// a directory and SyncAlways (an fsync before every acknowledgement:
// acknowledged means on disk). Without a listen address it serves only in
// process clients (Embedded.Connect). Three embedded servers with a cluster
// name and routes form a JetStream cluster for replicas 3; WaitJetStream
// waits for its meta leader, and creating an R3 stream right after may need
// a retry while the servers learn of each other. Connect dials an external
// cluster with credentials, nkey, user/password and TLS.
//
// On one server with SyncAlways, an atomic batch costs about two fsyncs and
// some directory churn (the server stages it in a temporary file store), a
// single publish one fsync per message: batching is how ingest reaches high
// message rates (see bench_test.go).
package streams
