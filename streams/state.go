package streams

import (
	"time"

	"github.com/pagemill/pagemill/schema"
)

// KeyBaseBackup is the key in the state bucket (Layout.KVBucket) of the
// base backup record, a JSON BaseBackupState.
const KeyBaseBackup = "basebackup"

// BaseBackupState is the record of the base backup in the state bucket
// (key KeyBaseBackup), written by ingest
// and read by the materializer. Objects live in the base bucket under Prefix.
type BaseBackupState struct {
	Prefix        string            `json:"prefix"`
	StartLSN      schema.LSN        `json:"start_lsn"`
	EndLSN        schema.LSN        `json:"end_lsn"`
	Timeline      schema.TimeLineID `json:"timeline"`
	Files         int               `json:"files"`
	Bytes         int64             `json:"bytes"`
	RelationFiles int               `json:"relation_files"`
	Pages         int64             `json:"pages"`
	Completed     bool              `json:"completed"`
	// DataChecksums: the source computes page checksums, so pages
	// rebuilt from its WAL must carry them too.
	DataChecksums bool      `json:"data_checksums"`
	StartedAt     time.Time `json:"started_at"`
	CompletedAt   time.Time `json:"completed_at,omitzero"`
}

// Object metadata keys of base backup files (Layout.ObjectBucket, objects
// named Prefix/path): relation files carry their identity.
const (
	ObjMetaRelation = "relation" // RelFileNode as spc/db/rel
	ObjMetaFork     = "fork"     // fork name (main, fsm, vm, init)
	ObjMetaSegment  = "segment"  // segment number of the file
	ObjMetaSize     = "size"
)
