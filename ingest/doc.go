// Package ingest follows a PostgreSQL 15 source over physical replication
// (slot, base backup import, XLogData), reassembles and decodes records with
// schema.StreamReader and publishes them to JetStream.
//
// A record is decoded once here; schema.PagesChanged routes it to the shard
// subject of every page it changes (streams.ShardOf), or to the meta subject
// when it changes none, and the records between two flush points go out as
// one atomic round whose last message on the meta subject marks its end
// (streams describes the layout). Next: redo/materialize consumes the
// rounds.
//
// Failover: the source may name several hosts; with libpq's
// target_session_attrs (read-write: the primary) the host is found over
// ordinary connections first, since a replication connection refuses the
// SQL that check runs. On a new timeline, the log's timeline is continued
// up to its switch point in the source's history (TIMELINE_HISTORY; a
// historic timeline ends with CopyDone and names the next one), or left at
// the switch point when the log holds WAL past it that the new primary
// never had. Each timeline's history file goes into the state bucket
// (streams.KeyTimelineHistory) before its first round; the materializer
// follows them. A source of another system identifier is refused.
//
// Contract: the flush LSN reported to PostgreSQL never passes what
// JetStream has durably acknowledged, so the source keeps every byte of WAL
// that pagemill has not stored.
package ingest
