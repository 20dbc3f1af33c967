package streams

import (
	"io"
	"strconv"
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
	ObjMetaOffset   = "offset" // relation files: byte offset of this part in the file
)

// ObjPartBytes is the size of the parts a relation file is stored in
// (128 of the object store's chunks): every Put then waits for its
// chunks' acknowledgements before the next begins.
const ObjPartBytes = 16 << 20

// ObjPartName names the part of the object name at byte offset off: the
// name itself for the first part, name@OFFSET for the others.
func ObjPartName(name string, off int64) string {
	if off == 0 {
		return name
	}
	return name + "@" + strconv.FormatInt(off, 10)
}

// FullReads wraps r so that every Read fills its buffer (until the end):
// the object store publishes one chunk per Read, so chunks are full.
func FullReads(r io.Reader) io.Reader { return fullReads{r} }

type fullReads struct{ r io.Reader }

func (f fullReads) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
