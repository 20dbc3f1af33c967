package materialize

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Snapshots: the page store as of an LSN S, kept in the base backup's
// object store, so that a page store is rebuilt from the newest snapshot
// at or below the retention horizon plus the stream after it, and the
// stream (and older snapshots, and the base backup's pages) can be trimmed
// below it.
//
// An object "snap/<S as 16 hex digits>" is a zstd stream of entries:
//
//	"PMSN" version:u8(1)
//	'F' rel fork (spc u32, db u32, rel u32, fork u8) nblocks u32   — every fork at S
//	'P' tag (… block u32) page [8192]                              — every page with a version at S
//	'U' tag reason-length u16 reason                                — pages not reconstructible at S
//	'C' lsn u64 end u64 length u16 data                              — the checkpoint a restore at S starts from
//	'R' end u64 seq u64                                              — rounds from that checkpoint's WAL on
//	'E' entries u64                                                  — the end: a cut object is refused
//
// Everything little-endian. The object's metadata (SnapshotInfo, JSON
// under "snapshot") says where the stream is to be read from after it.
const (
	snapshotPrefix  = "snap/"
	snapshotMagic   = "PMSN"
	snapshotVersion = 1
	snapshotMetaKey = "snapshot"
)

// SnapshotInfo describes a snapshot.
type SnapshotInfo struct {
	Object string     `json:"object"`
	LSN    schema.LSN `json:"lsn"`
	// Seq is the stream sequence of the meta message of the round ending
	// at LSN: consumers resume after it.
	Seq uint64 `json:"seq"`
	// Checkpoint and Redo: the newest checkpoint record ending at or
	// before LSN and its redo point. StreamFrom is the first stream
	// sequence a restore at LSN reads WAL from; the stream below it is
	// not needed once this snapshot is the oldest one kept.
	Checkpoint schema.LSN `json:"checkpoint"`
	Redo       schema.LSN `json:"redo"`
	StreamFrom uint64     `json:"stream_from"`
	// BasePrefix and DataChecksums carry the base backup's identity
	// (its non-page files stay for restores).
	BasePrefix    string    `json:"base_prefix"`
	DataChecksums bool      `json:"data_checksums"`
	Pages         int64     `json:"pages"`
	Bytes         int64     `json:"bytes"` // of the parts
	Parts         int       `json:"parts"`
	Created       time.Time `json:"created"`
}

// Snapshots lists the snapshots in the object store, oldest first.
func (m *Materializer) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	return ListSnapshots(ctx, m.h.Objects)
}

// ListSnapshots lists the snapshots in a base backup object store, oldest
// first.
func ListSnapshots(ctx context.Context, objects jetstream.ObjectStore) ([]SnapshotInfo, error) {
	objs, err := objects.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []SnapshotInfo
	for _, o := range objs {
		if !strings.HasPrefix(o.Name, snapshotPrefix) || strings.Contains(o.Name, partSep) || o.Metadata[snapshotMetaKey] == "" {
			continue
		}
		var si SnapshotInfo
		if err := json.Unmarshal([]byte(o.Metadata[snapshotMetaKey]), &si); err != nil {
			return nil, fmt.Errorf("snapshot %s: metadata: %w", o.Name, err)
		}
		out = append(out, si)
	}
	slices.SortFunc(out, func(a, b SnapshotInfo) int { return cmp.Compare(a.LSN, b.LSN) })
	return out, nil
}

// snapshotWriter encodes entries.
type snapshotWriter struct {
	w       *bufio.Writer
	entries uint64
}

func (s *snapshotWriter) entry(kind byte, parts ...[]byte) error {
	s.entries++
	if err := s.w.WriteByte(kind); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := s.w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

func relForkBytes(b []byte, rel schema.RelFileNode, fork schema.ForkNumber) []byte {
	b = binary.LittleEndian.AppendUint32(b, rel.SpcNode)
	b = binary.LittleEndian.AppendUint32(b, rel.DbNode)
	b = binary.LittleEndian.AppendUint32(b, rel.RelNode)
	return append(b, byte(fork))
}

// TakeSnapshot writes a snapshot of the page store as of the LSN every
// shard has applied. It runs on the garbage collector's goroutine, so the
// horizon does not move under it; redo goes on meanwhile (reads at S are
// not affected by newer versions).
func (m *Materializer) TakeSnapshot(ctx context.Context) (*SnapshotInfo, error) {
	began := time.Now()
	s := m.Applied()
	seq, err := m.roundSeq(s)
	if err != nil {
		return nil, err
	}
	ck, err := m.store.CheckpointAt(s)
	if err != nil {
		return nil, fmt.Errorf("snapshot at %s: %w", s, err)
	}
	cp, err := schema.ParseCheckPoint(ck.Data)
	if err != nil {
		return nil, fmt.Errorf("snapshot at %s: checkpoint at %s: %w", s, ck.LSN, err)
	}
	from, fromEnd, err := m.store.StreamStart(cp.Redo - cp.Redo%schema.XLogBlcksz)
	if err != nil {
		return nil, err
	}
	prefix, err := m.BasePrefix()
	if err != nil {
		return nil, err
	}
	rounds, err := m.store.Rounds(fromEnd, s)
	if err != nil {
		return nil, err
	}
	rels, err := m.store.Relations(0, s)
	if err != nil {
		return nil, err
	}
	si := &SnapshotInfo{Object: fmt.Sprintf("%s%016X", snapshotPrefix, uint64(s)), LSN: s, Seq: seq,
		Checkpoint: ck.LSN, Redo: cp.Redo, StreamFrom: from, BasePrefix: prefix, DataChecksums: m.DataChecksums(), Created: time.Now().UTC()}

	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(m.encodeSnapshot(pw, si, ck, rounds, rels))
	}()
	// The metadata goes with the object; the page count is known only at
	// the end, so it is counted up front from the sizes.
	for _, n := range rels {
		si.Pages += int64(n)
	}
	// The stream goes in parts of streams.ObjPartBytes (each Put waits for
	// its chunks' acknowledgements, so a large snapshot does not overrun
	// the server), then the manifest object naming them: a snapshot cut
	// short has no manifest and is not one.
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(streams.ObjPartBytes>>20)*time.Second)
		info, err := m.h.Objects.Put(pctx, jetstream.ObjectMeta{Name: snapshotPart(si.Object, si.Parts)},
			streams.FullReads(io.LimitReader(pr, streams.ObjPartBytes)))
		cancel()
		if err != nil {
			pr.CloseWithError(err)
			return nil, fmt.Errorf("store snapshot %s part %d: %w", si.Object, si.Parts, err)
		}
		si.Parts++
		si.Bytes += int64(info.Size)
		if int64(info.Size) < streams.ObjPartBytes {
			break
		}
	}
	meta, _ := json.Marshal(si)
	if _, err := m.h.Objects.Put(ctx, jetstream.ObjectMeta{Name: si.Object, Metadata: map[string]string{snapshotMetaKey: string(meta)}},
		bytes.NewReader(meta)); err != nil {
		return nil, fmt.Errorf("store snapshot manifest %s: %w", si.Object, err)
	}
	m.m.snapshots.Inc()
	m.m.snapshotSeconds.Observe(time.Since(began).Seconds())
	m.log.Info("snapshot stored", "lsn", s, "object", si.Object, "relation_forks", len(rels), "bytes", si.Bytes,
		"checkpoint", ck.LSN, "redo", cp.Redo, "stream_from", from, "seconds", time.Since(began).Seconds())
	return si, nil
}

// roundSeq is the stream sequence of the meta message of the round ending
// at lsn.
func (m *Materializer) roundSeq(lsn schema.LSN) (uint64, error) {
	r, err := m.store.Rounds(lsn, lsn)
	if err != nil {
		return 0, err
	}
	if len(r) != 1 {
		return 0, fmt.Errorf("snapshot at %s: no round of the stream ends there", lsn)
	}
	return r[0].Seq, nil
}

func (m *Materializer) encodeSnapshot(w io.Writer, si *SnapshotInfo, ck pagestore.Checkpoint, rounds []pagestore.Round, rels map[pagestore.RelFork]schema.BlockNumber) error {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	sw := &snapshotWriter{w: bufio.NewWriterSize(zw, 256<<10)}
	if _, err := sw.w.WriteString(snapshotMagic); err != nil {
		return err
	}
	if err := sw.w.WriteByte(snapshotVersion); err != nil {
		return err
	}
	forks := make([]pagestore.RelFork, 0, len(rels))
	for rf := range rels {
		forks = append(forks, rf)
	}
	slices.SortFunc(forks, func(a, b pagestore.RelFork) int {
		return cmp.Or(cmp.Compare(a.Rel.SpcNode, b.Rel.SpcNode), cmp.Compare(a.Rel.DbNode, b.Rel.DbNode),
			cmp.Compare(a.Rel.RelNode, b.Rel.RelNode), cmp.Compare(a.Fork, b.Fork))
	})
	le := binary.LittleEndian
	for _, rf := range forks {
		n := rels[rf]
		if err := sw.entry('F', le.AppendUint32(relForkBytes(nil, rf.Rel, rf.Fork), uint32(n))); err != nil {
			return err
		}
		for blk := schema.BlockNumber(0); blk < n; blk++ {
			tag := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: blk}
			page, _, err := m.store.PageAt(tag, si.LSN)
			var unav *pagestore.UnavailableError
			switch {
			case err == nil:
				err = sw.entry('P', le.AppendUint32(relForkBytes(nil, rf.Rel, rf.Fork), uint32(blk)), page)
			case errors.Is(err, pagestore.ErrNotFound):
				err = nil
			case errors.As(err, &unav):
				reason := unav.Reason
				if len(reason) > 1000 {
					reason = reason[:1000]
				}
				b := le.AppendUint32(relForkBytes(nil, rf.Rel, rf.Fork), uint32(blk))
				err = sw.entry('U', le.AppendUint16(b, uint16(len(reason))), []byte(reason))
			}
			if err != nil {
				return fmt.Errorf("snapshot page %s: %w", tag, err)
			}
		}
	}
	b := le.AppendUint64(nil, uint64(ck.LSN))
	b = le.AppendUint64(b, uint64(ck.EndLSN))
	if err := sw.entry('C', le.AppendUint16(b, uint16(len(ck.Data))), ck.Data); err != nil {
		return err
	}
	for _, r := range rounds {
		if err := sw.entry('R', le.AppendUint64(le.AppendUint64(nil, uint64(r.End)), r.Seq)); err != nil {
			return err
		}
	}
	if err := sw.entry('E', le.AppendUint64(nil, sw.entries+1)); err != nil {
		return err
	}
	if err := sw.w.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// importSnapshot fills an empty store from a snapshot: images, markers
// and sizes at its LSN, its checkpoint and rounds, every shard applied
// to it, the horizon at it.
func (m *Materializer) importSnapshot(ctx context.Context, si SnapshotInfo) error {
	began := time.Now()
	m.log.Info("importing a snapshot", "object", si.Object, "lsn", si.LSN, "bytes", si.Bytes)
	if err := m.adoptHistory(ctx, 0, si.LSN); err != nil {
		return err
	}
	r := &partsReader{ctx: ctx, objects: m.h.Objects, object: si.Object, parts: si.Parts}
	defer r.Close()
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	imp := &snapshotImport{m: m, si: si, br: bufio.NewReaderSize(zr, 256<<10), w: m.store.NewWriter(),
		page: make([]byte, schema.BLCKSZ), u64: make([]byte, 8)}
	head := make([]byte, 5)
	if _, err := io.ReadFull(imp.br, head); err != nil || string(head[:4]) != snapshotMagic || head[4] != snapshotVersion {
		return imp.corrupt("header", fmt.Errorf("not a version %d snapshot (%q)", snapshotVersion, head))
	}
	for done := false; !done; {
		if done, err = imp.entry(); err != nil {
			return err
		}
		if imp.w, err = m.commitFull(imp.w); err != nil {
			return err
		}
		m.m.baseImportPages.Inc()
	}
	imp.w.SetMeta("snapshot", []byte(si.Object))
	if err := m.finishImport(imp.w, si.LSN, si.Seq, si.LSN,
		baseMeta{Prefix: si.BasePrefix, StartLSN: si.LSN, EndLSN: si.LSN, DataChecksums: si.DataChecksums, Pages: imp.pages}); err != nil {
		return err
	}
	m.log.Info("snapshot imported", "object", si.Object, "lsn", si.LSN, "pages", imp.pages, "seconds", time.Since(began).Seconds())
	return nil
}

// snapshotImport is the state of one importSnapshot: the decoded stream,
// the writer and the counts so far.
type snapshotImport struct {
	m              *Materializer
	si             SnapshotInfo
	br             *bufio.Reader
	w              *pagestore.Writer
	pages, entries int64
	page, u64      []byte
}

func (s *snapshotImport) corrupt(what string, err error) error {
	return fmt.Errorf("snapshot %s: %s: %w", s.si.Object, what, err)
}

// snapshotEntries read the entries of each kind but the end ('E').
var snapshotEntries = map[byte]func(*snapshotImport) error{
	'F': (*snapshotImport).fork,
	'P': (*snapshotImport).pageEntry,
	'U': (*snapshotImport).unavailable,
	'C': (*snapshotImport).checkpoint,
	'R': (*snapshotImport).round,
}

// entry reads one entry into the writer; done is true after the end entry.
func (s *snapshotImport) entry() (done bool, err error) {
	kind, err := s.br.ReadByte()
	if err != nil {
		return false, s.corrupt(fmt.Sprintf("entry %d", s.entries), err)
	}
	s.entries++
	if kind == 'E' {
		return true, s.end()
	}
	read, ok := snapshotEntries[kind]
	if !ok {
		return false, s.corrupt(fmt.Sprintf("entry %d", s.entries), fmt.Errorf("unknown kind %q", kind))
	}
	return false, read(s)
}

// readTag reads a fork (withBlock false) or a page's tag.
func (s *snapshotImport) readTag(withBlock bool) (schema.BufferTag, error) {
	le := binary.LittleEndian
	n := 13
	if withBlock {
		n = 17
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.br, b); err != nil {
		return schema.BufferTag{}, err
	}
	t := schema.BufferTag{Rel: schema.RelFileNode{SpcNode: le.Uint32(b), DbNode: le.Uint32(b[4:]), RelNode: le.Uint32(b[8:])}, Fork: schema.ForkNumber(b[12])}
	if withBlock {
		t.Block = schema.BlockNumber(le.Uint32(b[13:]))
	}
	return t, nil
}

// fork is an 'F' entry: a fork's size.
func (s *snapshotImport) fork() error {
	t, err := s.readTag(false)
	if err == nil {
		_, err = io.ReadFull(s.br, s.u64[:4])
	}
	if err != nil {
		return s.corrupt("fork entry", err)
	}
	s.w.PutSize(t.Rel, t.Fork, s.si.LSN, 0, pagestore.SizeSet, schema.BlockNumber(binary.LittleEndian.Uint32(s.u64)))
	return nil
}

// pageEntry is a 'P' entry: a page's image.
func (s *snapshotImport) pageEntry() error {
	t, err := s.readTag(true)
	if err == nil {
		_, err = io.ReadFull(s.br, s.page)
	}
	if err != nil {
		return s.corrupt("page entry", err)
	}
	s.w.PutImage(t, s.si.LSN, s.page)
	s.pages++
	return nil
}

// unavailable is a 'U' entry: a page not reconstructible at the LSN.
func (s *snapshotImport) unavailable() error {
	t, err := s.readTag(true)
	if err == nil {
		_, err = io.ReadFull(s.br, s.u64[:2])
	}
	var reason []byte
	if err == nil {
		reason = make([]byte, binary.LittleEndian.Uint16(s.u64))
		_, err = io.ReadFull(s.br, reason)
	}
	if err != nil {
		return s.corrupt("unavailable entry", err)
	}
	s.w.PutUnavailable(t, s.si.LSN, string(reason))
	return nil
}

// checkpoint is the 'C' entry: the checkpoint a restore starts from.
func (s *snapshotImport) checkpoint() error {
	le := binary.LittleEndian
	b := make([]byte, 18)
	_, err := io.ReadFull(s.br, b)
	var data []byte
	if err == nil {
		data = make([]byte, le.Uint16(b[16:]))
		_, err = io.ReadFull(s.br, data)
	}
	if err != nil {
		return s.corrupt("checkpoint entry", err)
	}
	s.w.PutCheckpoint(schema.LSN(le.Uint64(b)), schema.LSN(le.Uint64(b[8:])), data)
	return nil
}

// round is an 'R' entry: a round of the stream.
func (s *snapshotImport) round() error {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.br, b); err != nil {
		return s.corrupt("round entry", err)
	}
	s.w.PutRound(schema.LSN(binary.LittleEndian.Uint64(b)), binary.LittleEndian.Uint64(b[8:]))
	return nil
}

// end is the 'E' entry: the number of entries, itself included.
func (s *snapshotImport) end() error {
	if _, err := io.ReadFull(s.br, s.u64); err != nil {
		return s.corrupt("end entry", err)
	}
	if n := binary.LittleEndian.Uint64(s.u64); n != uint64(s.entries) {
		return s.corrupt("end entry", fmt.Errorf("%d entries read, the snapshot wrote %d", s.entries, n))
	}
	return nil
}

// trim drops what the retention window no longer needs once a snapshot
// at or below the horizon exists: the stream below the WAL that snapshot
// needs, older snapshots, and the base backup's page files (its other
// files stay: restores copy them).
func (m *Materializer) trim(ctx context.Context, snaps []SnapshotInfo) error {
	h := m.store.Horizon()
	keep := -1
	for i, si := range snaps {
		if si.LSN <= h {
			keep = i
		}
	}
	if keep < 0 {
		return nil
	}
	oldest := snaps[keep]
	if oldest.Object == m.trimmedFor {
		return nil // done for this snapshot already
	}
	// Older snapshots go first: a store rebuilt from the oldest snapshot
	// must always find the stream after it, whenever this is cut short.
	for _, si := range snaps[:keep] {
		// The manifest first: without it the parts are no snapshot.
		for i := -1; i < si.Parts; i++ {
			name := si.Object
			if i >= 0 {
				name = snapshotPart(si.Object, i)
			}
			if err := m.h.Objects.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return fmt.Errorf("delete snapshot %s: %w", name, err)
			}
		}
		m.log.Info("snapshot deleted", "object", si.Object, "lsn", si.LSN)
	}
	if oldest.StreamFrom > 1 {
		info, err := m.h.Stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.FirstSeq < oldest.StreamFrom {
			if err := m.h.Stream.Purge(ctx, jetstream.WithPurgeSequence(oldest.StreamFrom)); err != nil {
				return fmt.Errorf("trim the stream below sequence %d: %w", oldest.StreamFrom, err)
			}
			m.log.Info("stream trimmed", "below_seq", oldest.StreamFrom, "snapshot", oldest.Object, "horizon", h)
		}
	}
	if oldest.StreamFrom > 1 {
		if _, err := m.store.TrimIndex(oldest.StreamFrom, oldest.Checkpoint); err != nil {
			return err
		}
	}
	objs, err := m.h.Objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return err
	}
	deleted := 0
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Name, oldest.BasePrefix+"/")
		if !ok {
			continue
		}
		if _, aux := schema.AuxFile(name); o.Metadata[streams.ObjMetaRelation] == "" && !aux {
			continue
		}
		if err := m.h.Objects.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("delete base backup file %s: %w", o.Name, err)
		}
		deleted++
	}
	if deleted > 0 {
		m.log.Info("base backup page files deleted: the snapshot supersedes them", "files", deleted, "snapshot", oldest.Object)
	}
	m.trimmedFor = oldest.Object
	return nil
}

// snapshotDue reports whether a new snapshot should be taken.
func (m *Materializer) snapshotDue(last *SnapshotInfo, now time.Time) bool {
	applied := m.Applied()
	if last == nil {
		_, base, err := m.Base()
		if err != nil {
			return false
		}
		return m.cfg.SnapshotBytes > 0 && int64(applied-base) >= m.cfg.SnapshotBytes
	}
	if applied <= last.LSN {
		return false
	}
	return (m.cfg.SnapshotBytes > 0 && int64(applied-last.LSN) >= m.cfg.SnapshotBytes) ||
		(m.cfg.SnapshotInterval > 0 && now.Sub(last.Created) >= m.cfg.SnapshotInterval)
}

const partSep = "/part-"

// snapshotPart names part i of a snapshot.
func snapshotPart(object string, i int) string { return fmt.Sprintf("%s%s%05d", object, partSep, i) }

// partsReader reads a snapshot's parts one after the other.
type partsReader struct {
	ctx     context.Context
	objects jetstream.ObjectStore
	object  string
	parts   int
	next    int
	cur     jetstream.ObjectResult
	cancel  context.CancelFunc
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if p.next >= p.parts {
				return 0, io.EOF
			}
			ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute+time.Duration(streams.ObjPartBytes>>20)*time.Second)
			r, err := p.objects.Get(ctx, snapshotPart(p.object, p.next))
			if err != nil {
				cancel()
				return 0, fmt.Errorf("snapshot %s part %d: %w", p.object, p.next, err)
			}
			p.cur, p.cancel = r, cancel
			p.next++
		}
		n, err := p.cur.Read(b)
		if err == io.EOF {
			p.Close()
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (p *partsReader) Close() error {
	if p.cur != nil {
		p.cur.Close()
		p.cancel()
		p.cur = nil
	}
	return nil
}
