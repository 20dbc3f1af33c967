package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/streams"
)

// BaseBackupState is the record of the base backup in the state bucket;
// its format belongs to the event log (streams).
type BaseBackupState = streams.BaseBackupState

// KeyBaseBackup is the state bucket key of the base backup record.
const KeyBaseBackup = streams.KeyBaseBackup

func loadBaseBackupState(ctx context.Context, kv jetstream.KeyValue) (*BaseBackupState, error) {
	e, err := kv.Get(ctx, KeyBaseBackup)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read base backup state: %w", err)
	}
	var st BaseBackupState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("base backup state (revision %d) is not valid JSON: %w", e.Revision(), err)
	}
	return &st, nil
}

func saveBaseBackupState(ctx context.Context, kv jetstream.KeyValue, st *BaseBackupState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, KeyBaseBackup, b); err != nil {
		return fmt.Errorf("write base backup state: %w", err)
	}
	return nil
}

// baseBackup takes a base backup over the replication connection and
// stores every file in the base bucket. An unfinished earlier attempt's
// objects are deleted first, so a crash mid-backup leaves nothing behind.
func (in *Ingester) baseBackup(ctx context.Context, conn *pgconn.PgConn, h *streams.Handles, info SourceInfo) (*BaseBackupState, error) {
	if old, err := loadBaseBackupState(ctx, h.KV); err != nil {
		return nil, err
	} else if old != nil && !old.Completed {
		in.log.Info("removing an unfinished base backup", "prefix", old.Prefix)
		if err := deletePrefix(ctx, h.Objects, old.Prefix); err != nil {
			return nil, err
		}
	}
	st := &BaseBackupState{Prefix: "bb-" + strconv.FormatInt(time.Now().UnixNano(), 36), Timeline: info.Timeline, DataChecksums: info.DataChecksums, StartedAt: time.Now().UTC()}
	if err := saveBaseBackupState(ctx, h.KV, st); err != nil {
		return nil, err
	}
	in.log.Info("taking a base backup", "prefix", st.Prefix)
	// Status hands out this pointer; st is written below, so publish a copy.
	started := *st
	in.update(func(s *Status) { s.BaseBackup = &started })
	sink := &objectSink{store: h.Objects, prefix: st.Prefix, m: in.m}
	res, err := TakeBaseBackup(ctx, conn, BaseBackupOptions{Label: "pagemill " + st.Prefix, ProgressInterval: in.cfg.BaseBackupProgress}, sink, in.log)
	if err != nil {
		return nil, fmt.Errorf("base backup: %w", err)
	}
	// A Put that failed in an earlier attempt may still have landed on
	// the server after that attempt's prefix was cleared; keep only ours.
	if err := deleteOtherPrefixes(ctx, h.Objects, st.Prefix, in.log); err != nil {
		return nil, err
	}
	st.StartLSN, st.EndLSN, st.Timeline = res.StartLSN, res.EndLSN, res.Timeline
	st.Files, st.Bytes, st.RelationFiles, st.Pages = res.Files, res.Bytes, res.RelationFiles, res.Pages
	st.Completed, st.CompletedAt = true, time.Now().UTC()
	if err := saveBaseBackupState(ctx, h.KV, st); err != nil {
		return nil, err
	}
	in.update(func(s *Status) { s.BaseBackup = st })
	in.log.Info("base backup stored", "start_lsn", st.StartLSN, "end_lsn", st.EndLSN, "files", st.Files,
		"relation_files", st.RelationFiles, "pages", st.Pages, "bytes", st.Bytes, "seconds", st.CompletedAt.Sub(st.StartedAt).Seconds())
	return st, nil
}

// objectSink stores base backup files as objects named prefix/path, with
// the relation identity in the object's metadata.
type objectSink struct {
	store  jetstream.ObjectStore
	prefix string
	m      *metrics
}

func (s *objectSink) File(ctx context.Context, f BackupFile, r io.Reader) error {
	// A relation file goes in parts of streams.ObjPartBytes, each its own
	// object (a Put returns once all its chunks are acknowledged): the
	// object store publishes a file's chunks without waiting, and a large
	// one overruns a server that fsyncs every message (it stalls the
	// client, or drops chunks and the Put fails with "too many requests").
	partBytes := f.Size
	if f.Relation != nil && f.Size > streams.ObjPartBytes {
		partBytes = streams.ObjPartBytes
	}
	for off := int64(0); ; off += partBytes {
		n := min(partBytes, f.Size-off)
		meta := jetstream.ObjectMeta{
			Name:     streams.ObjPartName(s.prefix+"/"+f.Path, off),
			Metadata: map[string]string{streams.ObjMetaSize: strconv.FormatInt(f.Size, 10), "mode": strconv.FormatInt(f.Mode, 8)},
		}
		if rel := f.Relation; rel != nil {
			meta.Metadata[streams.ObjMetaRelation] = rel.RelFileNode.String()
			meta.Metadata[streams.ObjMetaFork] = rel.Fork.String()
			meta.Metadata[streams.ObjMetaSegment] = strconv.Itoa(int(rel.Segment))
			meta.Metadata[streams.ObjMetaOffset] = strconv.FormatInt(off, 10)
		}
		if err := s.put(ctx, meta, io.LimitReader(r, n), n); err != nil {
			return fmt.Errorf("store %s at offset %d: %w", f.Path, off, err)
		}
		if off+n >= f.Size {
			break
		}
	}
	s.m.baseBackupBytes.Add(float64(f.Size))
	s.m.baseBackupFiles.Inc()
	return nil
}

// put stores one object of size bytes.
func (s *objectSink) put(ctx context.Context, meta jetstream.ObjectMeta, r io.Reader, size int64) error {
	// With a deadline on its context, Put waits for the acknowledgements
	// of its chunks as long as that allows; without one it gives each chunk
	// the client's default timeout (5 s), which a large file on a busy
	// disk with SyncAlways can exceed, leaving the bucket in a state the
	// client no longer tracks. Allow 2 minutes plus 1 s per MB.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(size>>20)*time.Second)
	defer cancel()
	info, err := s.store.Put(pctx, meta, streams.FullReads(r))
	if err != nil {
		return err
	}
	if int64(info.Size) != size {
		return fmt.Errorf("%d bytes stored, want %d", info.Size, size)
	}
	return nil
}

// deleteOtherPrefixes removes every base backup object ("bb-…/") not
// under keep/; other objects in the bucket are left alone.
func deleteOtherPrefixes(ctx context.Context, store jetstream.ObjectStore, keep string, log *slog.Logger) error {
	return deleteObjects(ctx, store, func(name string) bool {
		if !strings.HasPrefix(name, "bb-") || strings.HasPrefix(name, keep+"/") {
			return false
		}
		log.Info("removing an object of an earlier base backup attempt", "object", name)
		return true
	})
}

// deletePrefix removes every object under prefix/.
func deletePrefix(ctx context.Context, store jetstream.ObjectStore, prefix string) error {
	return deleteObjects(ctx, store, func(name string) bool { return strings.HasPrefix(name, prefix+"/") })
}

// deleteObjects removes the objects of the base bucket that drop selects.
func deleteObjects(ctx context.Context, store jetstream.ObjectStore, drop func(name string) bool) error {
	list, err := store.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list base objects: %w", err)
	}
	for _, o := range list {
		if drop(o.Name) {
			if err := store.Delete(ctx, o.Name); err != nil {
				return fmt.Errorf("delete %s: %w", o.Name, err)
			}
		}
	}
	return nil
}
