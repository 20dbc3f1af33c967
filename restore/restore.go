package restore

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Errors callers decide on.
var (
	// ErrNotRestorable: nothing pagemill keeps can give a data directory
	// at that LSN (below the horizon or the base backup's consistency
	// point, no checkpoint before it, an unsupported tablespace).
	ErrNotRestorable = errors.New("not restorable")
)

// Backup writes data directories as of an LSN.
type Backup struct {
	mat    *materialize.Materializer
	h      *streams.Handles
	log    *slog.Logger
	m      *metrics
	nowFn  func() time.Time
	tarNow time.Time
}

// New returns a Backup reading from the materializer and the streams.
func New(mat *materialize.Materializer, h *streams.Handles, reg prometheus.Registerer, log *slog.Logger) *Backup {
	return &Backup{mat: mat, h: h, log: log, m: newMetrics(reg), nowFn: time.Now}
}

// Plan is what a restore at an LSN consists of.
type Plan struct {
	// Target is the LSN asked for; End is the end of the last record at
	// or before it, where the restored cluster's WAL ends.
	Target, End schema.LSN
	// Checkpoint is the checkpoint record recovery starts from, Redo its
	// redo point: the WAL from Redo's segment up to End is included.
	Checkpoint schema.LSN
	Redo       schema.LSN
	Timeline   schema.TimeLineID
	// Relations are the relation forks at Target with their sizes in
	// blocks (free space maps and auxiliary pages excluded).
	Relations map[pagestore.RelFork]schema.BlockNumber
	Databases []uint32

	checkpoint schema.CheckPoint
	prefix     string
	streamFrom uint64
	control    []byte // the base backup's pg_control
	// spcDir is a tablespace's version directory (PG_15_<catalog
	// version>); relMaps the relation maps existing at Target; tsDBs the
	// database directories in tablespaces other than pg_default/pg_global.
	spcDir  string
	relMaps []schema.RelFileNode
	tsDBs   []schema.RelFileNode
}

// Stats says what Write wrote.
type Stats struct {
	Files       int
	Bytes       int64
	Pages       int64
	WALSegments int
	WALRecords  int
	Seconds     float64
}

// Plan decides what a restore at lsn writes, after waiting (bounded by
// ctx) until every shard has applied lsn.
func (b *Backup) Plan(ctx context.Context, lsn schema.LSN) (*Plan, error) {
	if lsn == 0 {
		lsn = b.mat.Applied()
	}
	_, baseEnd, err := b.mat.Base()
	if err != nil {
		return nil, err
	}
	if baseEnd == 0 {
		return nil, materialize.ErrNotReady
	}
	if lsn < baseEnd {
		return nil, fmt.Errorf("%w: LSN %s is before the base backup's consistency point %s", ErrNotRestorable, lsn, baseEnd)
	}
	if h := b.mat.Horizon(); lsn < h {
		return nil, fmt.Errorf("%w: LSN %s is below the retention horizon %s", ErrNotRestorable, lsn, h)
	}
	if err := b.mat.WaitAll(ctx, lsn); err != nil {
		return nil, err
	}
	store := b.mat.Store()
	ck, err := store.CheckpointAt(lsn)
	if errors.Is(err, pagestore.ErrNotFound) {
		return nil, fmt.Errorf("%w: no checkpoint record ends at or before %s", ErrNotRestorable, lsn)
	} else if err != nil {
		return nil, err
	}
	cp, err := schema.ParseCheckPoint(ck.Data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint record at %s: %w", ck.LSN, err)
	}
	if !cp.FullPageWrites {
		return nil, fmt.Errorf("%w: the checkpoint at %s was taken with full_page_writes off", ErrNotRestorable, ck.LSN)
	}
	prefix, err := b.mat.BasePrefix()
	if err != nil {
		return nil, err
	}
	rels, err := b.mat.Relations(ctx, 0, lsn)
	if err != nil {
		return nil, err
	}
	control, err := b.h.Objects.GetBytes(ctx, prefix+"/global/pg_control")
	if err != nil {
		return nil, fmt.Errorf("%w: the base backup's global/pg_control: %v", ErrNotRestorable, err)
	}
	cf, err := schema.ParseControlFile(control)
	if err != nil {
		return nil, fmt.Errorf("base backup's pg_control: %w", err)
	}
	p := &Plan{Target: lsn, Checkpoint: ck.LSN, Redo: cp.Redo, Timeline: schema.TimeLineID(b.h.Layout.Timeline),
		Relations: map[pagestore.RelFork]schema.BlockNumber{}, checkpoint: cp, prefix: prefix, control: control,
		spcDir: fmt.Sprintf("PG_15_%d", cf.CatalogVersionNo)}
	dbs := map[uint32]bool{}
	tsDBs := map[schema.RelFileNode]bool{}
	for rf, n := range rels {
		if schema.IsRelMap(rf.Rel) && rf.Fork == schema.MainForkNum {
			p.relMaps = append(p.relMaps, rf.Rel)
			continue
		}
		if schema.IsAuxRel(rf.Rel) || rf.Fork == schema.FSMForkNum {
			continue
		}
		switch rf.Rel.SpcNode {
		case schema.DefaultTablespaceOID:
			dbs[rf.Rel.DbNode] = true
		case schema.GlobalTablespaceOID:
		default:
			// Other tablespaces are restored in place, as directories
			// under pg_tblspc (PostgreSQL 15 reads those like links).
			tsDBs[schema.RelFileNode{SpcNode: rf.Rel.SpcNode, DbNode: rf.Rel.DbNode}] = true
		}
		p.Relations[rf] = n
	}
	for db := range dbs {
		p.Databases = append(p.Databases, db)
	}
	slices.Sort(p.Databases)
	for d := range tsDBs {
		p.tsDBs = append(p.tsDBs, d)
	}
	slices.SortFunc(p.tsDBs, func(a, b schema.RelFileNode) int { return strings.Compare(a.String(), b.String()) })
	// From the WAL page holding the redo point: the record continuing
	// onto that page is needed for its header.
	p.streamFrom, _, err = store.StreamStart(p.Redo - p.Redo%schema.XLogBlcksz)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// excluded reports whether a base backup file is not copied as is: it is
// rebuilt (relation files, SLRU segments, relation maps, pg_control, the
// WAL, database directories), belongs to the backup (backup_label,
// tablespace_map, backup_manifest), or is runtime state PostgreSQL
// recreates.
func excluded(p string) bool {
	if _, ok := schema.AuxFile(p); ok {
		return true
	}
	switch p {
	case "global/pg_control", "backup_label", "tablespace_map", "backup_manifest", "postmaster.pid", "postmaster.opts":
		return true
	}
	for _, pre := range []string{"pg_wal/", "base/", "pg_tblspc/", "pg_replslot/", "pg_stat_tmp/", "pg_dynshmem/", "pg_notify/", "pg_serial/", "pg_snapshots/", "pg_subtrans/", "pg_twophase/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return path.Base(p) == "pg_internal.init"
}

// Directories every data directory has (initdb's subdirs), created even
// when empty.
var dataDirs = []string{
	"global", "base", "pg_wal", "pg_wal/archive_status", "pg_commit_ts", "pg_dynshmem", "pg_notify",
	"pg_serial", "pg_snapshots", "pg_subtrans", "pg_twophase", "pg_multixact", "pg_multixact/members",
	"pg_multixact/offsets", "pg_replslot", "pg_tblspc", "pg_stat", "pg_stat_tmp", "pg_xact",
	"pg_logical", "pg_logical/snapshots", "pg_logical/mappings",
}

// relPath is a relation fork segment's path in the data directory.
func (p *Plan) relPath(rf pagestore.RelFork, seg int) string {
	// relpath.c: relnode, "_" + fork name but for main, ".seg" past 0.
	name := strconv.FormatUint(uint64(rf.Rel.RelNode), 10)
	if rf.Fork != schema.MainForkNum {
		name += "_" + rf.Fork.String()
	}
	if seg > 0 {
		name += "." + strconv.Itoa(seg)
	}
	return p.dbDir(rf.Rel.SpcNode, rf.Rel.DbNode) + "/" + name
}

// dbDir is the directory of database db's files in tablespace spc.
func (p *Plan) dbDir(spc, db uint32) string {
	switch spc {
	case schema.GlobalTablespaceOID:
		return "global"
	case schema.DefaultTablespaceOID:
		return fmt.Sprintf("base/%d", db)
	}
	return fmt.Sprintf("pg_tblspc/%d/%s/%d", spc, p.spcDir, db)
}

// tarWriter counts what goes into the archive.
type tarWriter struct {
	tw    *tar.Writer
	st    *Stats
	mtime time.Time
	m     *metrics
}

func (t *tarWriter) dir(name string) error {
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o700, ModTime: t.mtime})
}

func (t *tarWriter) file(name string, data []byte) error {
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: t.mtime}); err != nil {
		return err
	}
	if _, err := t.tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	t.st.Files++
	t.st.Bytes += int64(len(data))
	t.m.bytes.Add(float64(len(data)))
	return nil
}

// Write writes the data directory of plan to w as a tar stream.
func (b *Backup) Write(ctx context.Context, p *Plan, w io.Writer) (*Stats, error) {
	began := time.Now()
	st := &Stats{}
	// Pages go out 8 KiB at a time: batch them for the pipe or the wire.
	bw := bufio.NewWriterSize(w, 1<<20)
	t := &tarWriter{tw: tar.NewWriter(bw), st: st, mtime: b.nowFn().Truncate(time.Second), m: b.m}
	store := b.mat.Store()
	b.log.Info("restore: writing data directory", "lsn", p.Target, "checkpoint", p.Checkpoint, "redo", p.Redo,
		"relation_forks", len(p.Relations), "databases", len(p.Databases))
	for _, d := range dataDirs {
		if err := t.dir(d); err != nil {
			return nil, err
		}
	}
	// The base backup's other files: configuration, PG_VERSION, ….
	version, err := b.copyBaseFiles(ctx, p, t)
	if err != nil {
		return nil, err
	}
	for _, d := range p.tsDBs {
		for _, dir := range []string{fmt.Sprintf("pg_tblspc/%d", d.SpcNode), fmt.Sprintf("pg_tblspc/%d/%s", d.SpcNode, p.spcDir), p.dbDir(d.SpcNode, d.DbNode)} {
			if err := t.dir(dir); err != nil {
				return nil, err
			}
		}
		// A database whose default tablespace this is has PG_VERSION
		// here (connections check it); an extra copy elsewhere is inert.
		if err := t.file(p.dbDir(d.SpcNode, d.DbNode)+"/PG_VERSION", version); err != nil {
			return nil, err
		}
	}
	for _, db := range p.Databases {
		if err := t.dir(fmt.Sprintf("base/%d", db)); err != nil {
			return nil, err
		}
		if err := t.file(fmt.Sprintf("base/%d/PG_VERSION", db), version); err != nil {
			return nil, err
		}
	}
	// Relation pages.
	forks := make([]pagestore.RelFork, 0, len(p.Relations))
	for rf := range p.Relations {
		forks = append(forks, rf)
	}
	slices.SortFunc(forks, func(a, b pagestore.RelFork) int { return strings.Compare(p.relPath(a, 0), p.relPath(b, 0)) })
	for _, rf := range forks {
		if err := b.writeRelation(ctx, p, t, rf, p.Relations[rf]); err != nil {
			return nil, err
		}
	}
	// Relation maps and SLRU segments.
	if err := b.writeAux(ctx, p, t, store); err != nil {
		return nil, err
	}
	// The WAL from the redo point's segment to the target.
	cf, err := schema.ParseControlFile(p.control)
	if err != nil {
		return nil, fmt.Errorf("base backup's pg_control: %w", err)
	}
	if err := b.writeWAL(ctx, p, t, cf); err != nil {
		return nil, err
	}
	// pg_control last: a data directory without it is not mistaken for
	// a complete one.
	cf.State = schema.DBInProduction
	cf.CheckPoint = p.Checkpoint
	cf.CheckPointCopy = p.checkpoint
	cf.MinRecoveryPoint, cf.MinRecoveryPointTLI = 0, 0
	cf.BackupStartPoint, cf.BackupEndPoint, cf.BackupEndRequired = 0, 0, false
	cf.Time = b.nowFn().Unix()
	if err := t.file("global/pg_control", cf.Bytes()); err != nil {
		return nil, err
	}
	if err := t.tw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	st.Seconds = time.Since(began).Seconds()
	b.m.pages.Add(float64(st.Pages))
	b.m.seconds.Observe(st.Seconds)
	b.m.restores.Inc()
	b.log.Info("restore: data directory written", "lsn", p.Target, "end", p.End, "files", st.Files, "bytes", st.Bytes,
		"pages", st.Pages, "wal_segments", st.WALSegments, "wal_records", st.WALRecords, "seconds", st.Seconds)
	return st, nil
}

// copyBaseFiles copies the base backup files that are not rebuilt, and
// returns PG_VERSION's contents.
func (b *Backup) copyBaseFiles(ctx context.Context, p *Plan, t *tarWriter) (version []byte, err error) {
	objs, err := b.h.Objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, fmt.Errorf("list base backup objects: %w", err)
	}
	slices.SortFunc(objs, func(a, b *jetstream.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Name, p.prefix+"/")
		if !ok || o.Metadata[streams.ObjMetaRelation] != "" || excluded(name) {
			continue
		}
		data, err := b.h.Objects.GetBytes(ctx, o.Name)
		if err != nil {
			return nil, fmt.Errorf("read base backup file %s: %w", name, err)
		}
		if name == "PG_VERSION" {
			version = data
		}
		if err := t.file(name, data); err != nil {
			return nil, err
		}
	}
	if version == nil {
		version = []byte("15\n")
	}
	return version, nil
}

// writeRelation writes one relation fork's segment files.
func (b *Backup) writeRelation(ctx context.Context, p *Plan, t *tarWriter, rf pagestore.RelFork, n schema.BlockNumber) error {
	for seg := 0; seg == 0 || schema.BlockNumber(seg)*schema.RelSegSize < n; seg++ {
		first := schema.BlockNumber(seg) * schema.RelSegSize
		count := min(n-first, schema.RelSegSize)
		name := p.relPath(rf, seg)
		if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(count) * schema.BLCKSZ, ModTime: t.mtime}); err != nil {
			return err
		}
		for start := first; start < first+count; start += readWindow {
			pages, err := b.pages(ctx, p, rf, start, min(start+readWindow, first+count))
			if err != nil {
				return err
			}
			for _, page := range pages {
				if _, err := t.tw.Write(page); err != nil {
					return fmt.Errorf("write %s: %w", name, err)
				}
			}
		}
		t.st.Files++
		t.st.Bytes += int64(count) * schema.BLCKSZ
		t.st.Pages += int64(count)
		t.m.bytes.Add(float64(count) * schema.BLCKSZ)
	}
	return nil
}

// readWindow is how many pages of a relation are read at once, by
// GOMAXPROCS readers, before they are written in order.
const readWindow = 512

// pages reads blocks [from, to) of a relation fork at the target, in
// parallel.
func (b *Backup) pages(ctx context.Context, p *Plan, rf pagestore.RelFork, from, to schema.BlockNumber) ([]schema.Page, error) {
	out := make([]schema.Page, to-from)
	errs := make([]error, runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(out)) || ctx.Err() != nil {
					return
				}
				page, err := b.page(p, schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: from + schema.BlockNumber(i)})
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = page
			}
		}()
	}
	wg.Wait()
	for _, err := range append(errs, ctx.Err()) {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// page is a relation page at the target. A block the store never saw is
// zeros (PostgreSQL extends relations with zero pages). A page that
// cannot be reconstructed is zeros too when the WAL tail restores it:
// it was made unavailable by a record after the redo point, so with
// full_page_writes an image of it follows the redo point; otherwise the
// restore fails, naming the page.
func (b *Backup) page(p *Plan, tag schema.BufferTag) (schema.Page, error) {
	// From the store directly: every shard applied the target (Plan
	// waited), and a whole data directory would only churn the read cache.
	page, _, err := b.mat.Store().PageAt(tag, p.Target)
	var unav *pagestore.UnavailableError
	switch {
	case err == nil:
		return page, nil
	case errors.Is(err, pagestore.ErrNotFound):
		return make(schema.Page, schema.BLCKSZ), nil
	case errors.As(err, &unav) && unav.Since > p.Redo:
		return make(schema.Page, schema.BLCKSZ), nil
	}
	return nil, fmt.Errorf("page %s at %s: %w", tag, p.Target, err)
}

// writeAux writes the relation maps and SLRU segments at the target.
func (b *Backup) writeAux(ctx context.Context, p *Plan, t *tarWriter, store *pagestore.Store) error {
	for _, rel := range p.relMaps {
		page, _, err := b.mat.PageAt(ctx, schema.RelMapTag(rel.SpcNode, rel.DbNode), p.Target)
		if err != nil {
			return fmt.Errorf("relation map of database %d in tablespace %d at %s: %w", rel.DbNode, rel.SpcNode, p.Target, err)
		}
		if err := t.file(p.dbDir(rel.SpcNode, rel.DbNode)+"/pg_filenode.map", page[:schema.RelMapFileSize]); err != nil {
			return err
		}
	}
	for _, kind := range []uint32{schema.AuxRelXact, schema.AuxRelMultiXactOffsets, schema.AuxRelMultiXactMembers} {
		dir, _ := schema.SlruDir(kind)
		tags, err := store.PagesOf(schema.SlruTag(kind, 0).Rel, schema.MainForkNum, false, 0)
		if err != nil {
			return err
		}
		// Pages that exist at the target, by segment.
		segs := map[uint32][]schema.Page{}
		var order []uint32
		for _, tag := range tags {
			page, _, err := b.mat.PageAt(ctx, tag, p.Target)
			if errors.Is(err, pagestore.ErrNotFound) {
				continue
			} else if err != nil {
				return fmt.Errorf("%s page %d at %s: %w", dir, tag.Block, p.Target, err)
			}
			seg := uint32(tag.Block) / schema.SlruPagesPerSegment
			if _, ok := segs[seg]; !ok {
				order = append(order, seg)
			}
			idx := int(uint32(tag.Block) % schema.SlruPagesPerSegment)
			pages := segs[seg]
			for len(pages) <= idx {
				pages = append(pages, make(schema.Page, schema.BLCKSZ))
			}
			pages[idx] = page
			segs[seg] = pages
		}
		slices.Sort(order)
		for _, seg := range order {
			var data []byte
			for _, pg := range segs[seg] {
				data = append(data, pg...)
			}
			if err := t.file(dir+"/"+schema.SlruSegmentName(seg), data); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeWAL rebuilds the WAL segments from the redo point's segment to the
// end of the last record at or before the target, from the stream.
func (b *Backup) writeWAL(ctx context.Context, p *Plan, t *tarWriter, cf *schema.ControlFile) error {
	segSize := cf.XLogSegSize
	firstSeg := uint64(p.Redo) / uint64(segSize)
	tli := p.Timeline
	sb, err := schema.NewWALSegmentBuilder(segSize, tli, cf.SystemIdentifier, func(segNo uint64, data []byte) error {
		if segNo < firstSeg {
			return nil // a record continuing into the first segment
		}
		t.st.WALSegments++
		return t.file("pg_wal/"+schema.XLogFileName(tli, schema.XLogSegNo(segNo), segSize), data)
	})
	if err != nil {
		return err
	}
	var last schema.LSN
	err = streams.ReadRounds(ctx, b.h.Stream, b.h.Layout.TimelineSubjects(), p.streamFrom, func(r streams.Round) (bool, error) {
		for _, rec := range r.Records {
			if rec.EndLSN > p.Target {
				return false, nil
			}
			if rec.LSN < last {
				continue
			}
			if err := sb.Add(rec.LSN, rec.Raw); err != nil {
				return false, fmt.Errorf("WAL record at %s: %w", rec.LSN, err)
			}
			last = rec.EndLSN
			t.st.WALRecords++
		}
		return r.End < p.Target, nil
	})
	if err != nil {
		return fmt.Errorf("read the WAL stream from sequence %d: %w", p.streamFrom, err)
	}
	if last < p.Redo || last < p.Checkpoint {
		return fmt.Errorf("%w: the stream holds WAL only up to %s, not from the redo point %s through the checkpoint %s", ErrNotRestorable, last, p.Redo, p.Checkpoint)
	}
	p.End = last
	return sb.Finish()
}

// TarAt plans a restore at lsn (0: the latest applied), waiting at most
// waitTimeout for it to be applied, and writes its tar stream to w. It
// returns the LSN the data directory ends at.
func (b *Backup) TarAt(ctx context.Context, lsn schema.LSN, w io.Writer, waitTimeout time.Duration) (schema.LSN, error) {
	if lsn == 0 {
		lsn = b.mat.Applied()
	}
	// Keep the page versions at lsn while the directory is written.
	unpin, err := b.mat.Pin(lsn)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotRestorable, err)
	}
	defer unpin()
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	p, err := b.Plan(wctx, lsn)
	cancel()
	if err != nil {
		return 0, err
	}
	if _, err := b.Write(ctx, p, w); err != nil {
		return 0, err
	}
	return p.End, nil
}
