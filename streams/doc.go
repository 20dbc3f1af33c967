// Package streams is pagemill's event log on NATS JetStream: the streams,
// subjects, consumers, KV and object-store buckets and their configuration,
// in one place. JetStream is the source of truth; everything downstream is
// rebuilt from it.
package streams
