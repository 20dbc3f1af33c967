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
// Contract: the flush LSN reported to PostgreSQL never passes what
// JetStream has durably acknowledged, so the source keeps every byte of WAL
// that pagemill has not stored.
package ingest
