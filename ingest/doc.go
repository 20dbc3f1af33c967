// Package ingest follows a PostgreSQL 15 source over physical replication
// (slot, base backup import, XLogData), reassembles and decodes records with
// schema.StreamReader and publishes them to JetStream.
//
// Contract: the flush LSN reported to PostgreSQL never passes what
// JetStream has durably acknowledged, so the source keeps every byte of WAL
// that pagemill has not stored.
package ingest
