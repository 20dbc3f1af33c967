package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// KeyTimelineHistory is the key in the state bucket of timeline tli's
// history file (as TIMELINE_HISTORY returns it), written by ingest before
// its first round on tli: timeline.<tli>.
func KeyTimelineHistory(tli schema.TimeLineID) string {
	return "timeline." + strconv.FormatUint(uint64(tli), 10)
}

// KeysTimelineHistory matches every timeline's history key (for a watch).
const KeysTimelineHistory = "timeline.*"

// TimelineOfKey is the timeline whose history key is key; false for
// another key.
func TimelineOfKey(key string) (schema.TimeLineID, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(key, "timeline."), 10, 32)
	if err != nil || !strings.HasPrefix(key, "timeline.") || n == 0 {
		return 0, false
	}
	return schema.TimeLineID(n), true
}

// PutTimelineHistory records the history file of tli.
func PutTimelineHistory(ctx context.Context, kv jetstream.KeyValue, tli schema.TimeLineID, content []byte) error {
	if _, err := schema.ParseTimeLineHistory(tli, content); err != nil {
		return err
	}
	if _, err := kv.Put(ctx, KeyTimelineHistory(tli), content); err != nil {
		return fmt.Errorf("record the history of timeline %d: %w", tli, err)
	}
	return nil
}

// TimelineHistory is the history of tli from the state bucket: its
// history file's, or tli alone when none was recorded (timeline 1, or a
// stream written before timelines were followed).
func TimelineHistory(ctx context.Context, kv jetstream.KeyValue, tli schema.TimeLineID) (schema.TimeLineHistory, error) {
	e, err := kv.Get(ctx, KeyTimelineHistory(tli))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return schema.SingleTimeLine(tli), nil
	}
	if err != nil {
		return nil, fmt.Errorf("history of timeline %d: %w", tli, err)
	}
	return schema.ParseTimeLineHistory(tli, e.Value())
}

// NewestTimelineHistory is the history of the newest timeline recorded in
// the state bucket, and false when none is.
func NewestTimelineHistory(ctx context.Context, kv jetstream.KeyValue) (schema.TimeLineHistory, bool, error) {
	lister, err := kv.ListKeysFiltered(ctx, KeysTimelineHistory)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list timeline histories: %w", err)
	}
	newest := schema.TimeLineID(0)
	defer lister.Stop()
	for k := range lister.Keys() {
		if tli, ok := TimelineOfKey(k); ok && tli > newest {
			newest = tli
		}
	}
	if newest == 0 {
		return nil, false, nil
	}
	h, err := TimelineHistory(ctx, kv, newest)
	return h, err == nil, err
}
