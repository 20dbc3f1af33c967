package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// sink is where a data directory goes: a tar stream or a directory.
type sink interface {
	dir(name string) error
	// file writes a whole small file.
	file(name string, data []byte) error
	// relation starts the relation segment file name of size bytes; its
	// pages then come through pages. A tar gets a file's pages right after
	// its relation call, in order; a directory in any order, from several
	// goroutines.
	relation(name string, size int64) error
	pages(name string, off int64, pages []schema.Page) error
	// finish completes the output (the tar's trailer; one sync of the
	// directory's file system).
	finish() error
	// ordered: pages must come in order, right after their relation call.
	ordered() bool
	// release frees what the sink holds (open files) after a failure; a
	// no-op after finish.
	release()
}

// zeroPage is what a block without a version reads as. Never written to.
var zeroPage = make(schema.Page, schema.BLCKSZ)

func isZero(p schema.Page) bool { return bytes.Equal(p, zeroPage) }

// Write writes the data directory of plan to w as a tar stream. Its
// first entry carries, as a pax comment, the target LSN and the plan's
// size estimate (see TarComment).
func (b *Backup) Write(ctx context.Context, p *Plan, w io.Writer) (*Stats, error) {
	t := newTarSink(w, b.nowFn().Truncate(time.Second), fmt.Sprintf(tarCommentFormat, p.Target.Short(), p.Bytes))
	return b.write(ctx, p, t, nil)
}

// WriteDir writes the data directory of plan into dir, which must be empty
// or not exist: files directly, holes where relation pages are zero, one
// sync of the file system at the end. progress, if not nil, is called
// every 200 ms and at the end with the bytes written so far and the plan's
// estimate of the total.
func (b *Backup) WriteDir(ctx context.Context, p *Plan, dir string, progress func(done, total int64)) (*Stats, error) {
	d, err := newDirSink(dir)
	if err != nil {
		return nil, err
	}
	return b.write(ctx, p, d, progress)
}

// writeState is one Write's progress.
type writeState struct {
	p     *Plan
	st    *Stats
	s     sink
	bytes atomic.Int64
	pages atomic.Int64
	zeros atomic.Int64

	// unavailable: the first page that could not be reconstructed at the
	// target and was written as zeros for replay to restore (NoReplay
	// then becomes Replay).
	unavMu sync.Mutex
	unav   *pagestore.UnavailableError
}

func (w *writeState) file(name string, data []byte) error {
	if err := w.s.file(name, data); err != nil {
		return err
	}
	w.st.Files++
	w.bytes.Add(int64(len(data)))
	return nil
}

func (b *Backup) write(ctx context.Context, p *Plan, s sink, progress func(done, total int64)) (*Stats, error) {
	began := time.Now()
	st := &Stats{Mode: p.Mode}
	w := &writeState{p: p, st: st, s: s}
	defer s.release()
	if progress != nil {
		defer w.reportProgress(ctx, progress)()
	}
	b.log.Info("restore: writing data directory", "lsn", p.Target, "mode", p.Mode, "checkpoint", p.SourceCheckpoint, "redo", p.SourceRedo,
		"relation_forks", len(p.Relations), "databases", len(p.Databases), "prepared", len(p.Prepared), "estimated_bytes", p.Bytes)
	if p.Mode == Replay {
		b.log.Warn("restore: the data directory will replay WAL", "reason", p.ReplayReason)
	}
	phase := time.Now()
	lap := func(name string) {
		b.log.Debug("restore: phase done", "phase", name, "seconds", time.Since(phase).Seconds())
		phase = time.Now()
	}
	if err := b.writeDirectories(ctx, w); err != nil {
		return nil, err
	}
	lap("directories and base backup files")
	if err := b.writeRelations(ctx, w); err != nil {
		return nil, err
	}
	lap("relations")
	if w.unav != nil {
		b.log.Warn("restore: pages not reconstructible at the target; the data directory replays WAL from the checkpoint's redo point, whose full-page images restore them",
			"first", w.unav.Tag, "since", w.unav.Since, "redo", p.SourceRedo)
		st.Mode = Replay
	}
	if err := b.writeAux(ctx, w); err != nil {
		return nil, err
	}
	lap("SLRUs and relation maps")
	if err := b.writeEnd(ctx, w); err != nil {
		return nil, err
	}
	lap("two-phase state, WAL, pg_control")
	if err := s.finish(); err != nil {
		return nil, err
	}
	lap("finish (sync)")
	st.Bytes, st.Pages, st.ZeroPages = w.bytes.Load(), w.pages.Load(), w.zeros.Load()
	st.Seconds = time.Since(began).Seconds()
	b.m.bytes.Add(float64(st.Bytes))
	b.m.pages.Add(float64(st.Pages))
	b.m.seconds.Observe(st.Seconds)
	b.m.restores.Inc()
	b.log.Info("restore: data directory written", "lsn", p.Target, "mode", st.Mode, "checkpoint", st.Checkpoint, "end", st.End,
		"files", st.Files, "bytes", st.Bytes, "pages", st.Pages, "zero_pages", st.ZeroPages, "prepared", st.Prepared,
		"wal_segments", st.WALSegments, "wal_records", st.WALRecords, "seconds", st.Seconds)
	return st, nil
}

// reportProgress calls progress every 200 ms with the bytes written so far
// and the plan's estimate of the total; the function it returns stops that
// and reports once more.
func (w *writeState) reportProgress(ctx context.Context, progress func(done, total int64)) (stop func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				progress(w.bytes.Load(), w.p.Bytes)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		progress(w.bytes.Load(), w.p.Bytes)
	}
}

// writeDirectories creates the data directory's directories, copies the
// base backup's other files (configuration, PG_VERSION, …) and puts
// PG_VERSION in each database's directory.
func (b *Backup) writeDirectories(ctx context.Context, w *writeState) error {
	p, s := w.p, w.s
	for _, d := range dataDirs {
		if err := s.dir(d); err != nil {
			return err
		}
	}
	version, err := b.copyBaseFiles(ctx, p, w)
	if err != nil {
		return err
	}
	for _, d := range p.tsDBs {
		for _, dir := range []string{fmt.Sprintf("pg_tblspc/%d", d.SpcNode), fmt.Sprintf("pg_tblspc/%d/%s", d.SpcNode, p.spcDir), p.dbDir(d.SpcNode, d.DbNode)} {
			if err := s.dir(dir); err != nil {
				return err
			}
		}
		// A database whose default tablespace this is has PG_VERSION
		// here (connections check it); an extra copy elsewhere is inert.
		if err := w.file(p.dbDir(d.SpcNode, d.DbNode)+"/PG_VERSION", version); err != nil {
			return err
		}
	}
	for _, db := range p.Databases {
		if err := s.dir(fmt.Sprintf("base/%d", db)); err != nil {
			return err
		}
		if err := w.file(fmt.Sprintf("base/%d/PG_VERSION", db), version); err != nil {
			return err
		}
	}
	return nil
}

// copyBaseFiles copies the base backup files that are not rebuilt, and
// returns PG_VERSION's contents.
func (b *Backup) copyBaseFiles(ctx context.Context, p *Plan, w *writeState) (version []byte, err error) {
	for _, o := range p.baseFiles {
		name := strings.TrimPrefix(o.Name, p.prefix+"/")
		data, err := b.h.Objects.GetBytes(ctx, o.Name)
		if err != nil {
			return nil, fmt.Errorf("read base backup file %s: %w", name, err)
		}
		if name == "PG_VERSION" {
			version = data
		}
		if err := w.file(name, data); err != nil {
			return nil, err
		}
	}
	if version == nil {
		version = []byte("15\n")
	}
	return version, nil
}

// segment is one relation segment file to write.
type segment struct {
	name   string
	rf     pagestore.RelFork // the fork written
	src    pagestore.RelFork // the fork read
	first  schema.BlockNumber
	blocks schema.BlockNumber
}

// chunkPages is how many pages one read job covers (1 MiB).
const chunkPages = 128

// job is a range of one segment's pages.
type job struct {
	seg   int
	first schema.BlockNumber // block number in the fork
	n     int
}

// writeRelations writes every relation segment: its pages read by a pool
// of readers from the page store, a chunk of a segment at a time, written
// as they come (a directory) or in order (a tar).
func (b *Backup) writeRelations(ctx context.Context, w *writeState) error {
	segs, jobs := relationJobs(w.p)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := newRelationWriter(ctx, cancel, b, w, segs, jobs)
	defer func() { w.st.Files += int(r.files.Load()) }()
	if !w.s.ordered() {
		r.wg.Add(1)
		go r.createFiles()
	}
	r.wg.Add(1)
	go r.dispatch()
	for range r.workers {
		r.wg.Add(1)
		go r.read()
	}
	if w.s.ordered() {
		r.writeInOrder()
		cancel()
	}
	r.wg.Wait()
	if r.firstErr != nil {
		return r.firstErr
	}
	return parent.Err()
}

// relationJobs lists the plan's relation segments, in path order, and the
// read jobs covering them: chunks of up to chunkPages pages, one empty job
// for an empty segment.
func relationJobs(p *Plan) ([]segment, []job) {
	forks := make([]pagestore.RelFork, 0, len(p.Relations))
	for rf := range p.Relations {
		forks = append(forks, rf)
	}
	slices.SortFunc(forks, func(a, b pagestore.RelFork) int { return strings.Compare(p.relPath(a, 0), p.relPath(b, 0)) })
	var segs []segment
	var jobs []job
	for _, rf := range forks {
		n := p.Relations[rf]
		src, ok := p.from[rf]
		if !ok {
			src = rf
		}
		for seg := 0; seg == 0 || schema.BlockNumber(seg)*schema.RelSegSize < n; seg++ {
			first := schema.BlockNumber(seg) * schema.RelSegSize
			count := min(n-first, schema.RelSegSize)
			segs = append(segs, segment{name: p.relPath(rf, seg), rf: rf, src: src, first: first, blocks: count})
			if count == 0 {
				jobs = append(jobs, job{seg: len(segs) - 1, first: first})
			}
			for at := first; at < first+count; at += chunkPages {
				jobs = append(jobs, job{seg: len(segs) - 1, first: at, n: int(min(chunkPages, first+count-at))})
			}
		}
	}
	return segs, jobs
}

// relationWriter is the state of one writeRelations: the jobs, the
// goroutines reading and writing them, and the first error, which cancels
// the rest.
type relationWriter struct {
	ctx    context.Context
	cancel context.CancelFunc
	b      *Backup
	w      *writeState
	segs   []segment
	jobs   []job

	workers int
	wg      sync.WaitGroup

	errMu    sync.Mutex
	firstErr error

	// A directory's files are created by one goroutine running ahead of
	// the readers, in order (creating files in one directory from several
	// goroutines only contends for it), each before its pages are written.
	created   []chan struct{}
	createErr []error
	files     atomic.Int64

	// A ring of result slots bounds what is read ahead of the writer:
	// the dispatcher takes a token for each job it hands out, the writer
	// returns it.
	ring   int
	slots  []chan []schema.Page
	tokens chan struct{}
	next   chan int
}

func newRelationWriter(ctx context.Context, cancel context.CancelFunc, b *Backup, w *writeState, segs []segment, jobs []job) *relationWriter {
	workers := min(max(4, 2*runtime.GOMAXPROCS(0)), 16)
	r := &relationWriter{ctx: ctx, cancel: cancel, b: b, w: w, segs: segs, jobs: jobs, workers: workers,
		created: make([]chan struct{}, len(segs)), createErr: make([]error, len(segs)),
		ring: 4 * workers, next: make(chan int)}
	for i := range r.created {
		r.created[i] = make(chan struct{})
	}
	r.slots = make([]chan []schema.Page, r.ring)
	for i := range r.slots {
		r.slots[i] = make(chan []schema.Page, 1)
	}
	r.tokens = make(chan struct{}, r.ring)
	return r
}

// fail records the first error and cancels the run.
func (r *relationWriter) fail(err error) {
	r.errMu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.errMu.Unlock()
	r.cancel()
}

// createFiles creates the directory's segment files in order.
func (r *relationWriter) createFiles() {
	defer r.wg.Done()
	for i, sg := range r.segs {
		if r.ctx.Err() != nil {
			return
		}
		if r.createErr[i] = r.w.s.relation(sg.name, int64(sg.blocks)*schema.BLCKSZ); r.createErr[i] != nil {
			r.fail(r.createErr[i])
			return
		}
		r.files.Add(1)
		close(r.created[i])
	}
}

// create waits until segment seg's file exists.
func (r *relationWriter) create(seg int) error {
	select {
	case <-r.created[seg]:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// dispatch hands out the jobs' indexes, one token each.
func (r *relationWriter) dispatch() {
	defer r.wg.Done()
	defer close(r.next)
	for i := range r.jobs {
		select {
		case r.tokens <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		select {
		case r.next <- i:
		case <-r.ctx.Done():
			return
		}
	}
}

// read is one reader: it reads the pages of the jobs it is handed and
// writes them (a directory) or puts them in their slot (a tar).
func (r *relationWriter) read() {
	defer r.wg.Done()
	for i := range r.next {
		j := r.jobs[i]
		sg := r.segs[j.seg]
		pages, err := r.b.pages(r.w, sg.src, j.first, j.n)
		if err != nil {
			r.fail(err)
			return
		}
		if r.w.s.ordered() {
			r.slots[i%r.ring] <- pages
			continue
		}
		if err := r.create(j.seg); err != nil {
			r.fail(err)
			return
		}
		if err := r.w.writePages(sg, j, pages); err != nil {
			r.fail(err)
			return
		}
		<-r.tokens
	}
}

// writeInOrder writes the jobs' pages in order from their slots, starting
// each segment's file before its first pages.
func (r *relationWriter) writeInOrder() {
	cur := -1
	for i, j := range r.jobs {
		var pages []schema.Page
		select {
		case pages = <-r.slots[i%r.ring]:
		case <-r.ctx.Done():
		}
		if r.ctx.Err() != nil {
			return
		}
		sg := r.segs[j.seg]
		if j.seg != cur {
			cur = j.seg
			if err := r.w.s.relation(sg.name, int64(sg.blocks)*schema.BLCKSZ); err != nil {
				r.fail(err)
				return
			}
			r.w.st.Files++
		}
		if err := r.w.writePages(sg, j, pages); err != nil {
			r.fail(err)
			return
		}
		<-r.tokens
	}
}

// writePages hands a job's pages to the sink and counts them.
func (w *writeState) writePages(sg segment, j job, pages []schema.Page) error {
	if len(pages) == 0 {
		return nil
	}
	if err := w.s.pages(sg.name, int64(j.first-sg.first)*schema.BLCKSZ, pages); err != nil {
		return fmt.Errorf("write %s: %w", sg.name, err)
	}
	var zeros int64
	for _, pg := range pages {
		if isZero(pg) {
			zeros++
		}
	}
	w.pages.Add(int64(len(pages)))
	w.zeros.Add(zeros)
	w.bytes.Add(int64(len(pages)) * schema.BLCKSZ)
	return nil
}

// pages reads n blocks of a relation fork at the target, from block
// first. A block the store never saw is zeros (PostgreSQL extends
// relations with zero pages). A page that cannot be reconstructed is
// zeros too when WAL replay from the source checkpoint's redo point
// restores it (it was made unavailable by a record after the redo point,
// so with full_page_writes an image of it follows): the directory then
// replays (see writeState.unav). Otherwise the restore fails, naming the
// page.
func (b *Backup) pages(w *writeState, rf pagestore.RelFork, first schema.BlockNumber, n int) ([]schema.Page, error) {
	p := w.p
	// From the store directly: every shard applied the target (Plan
	// waited), and a whole data directory would only churn the read cache.
	pages, errs, err := b.mat.Store().PagesAt(rf.Rel, rf.Fork, first, n, p.Target)
	if err != nil {
		return nil, err
	}
	for i, err := range errs {
		var unav *pagestore.UnavailableError
		switch {
		case err == nil:
		case errors.Is(err, pagestore.ErrNotFound):
			pages[i] = zeroPage
		case errors.As(err, &unav) && unav.Since > p.SourceRedo && p.checkpoint.FullPageWrites:
			w.unavMu.Lock()
			if w.unav == nil {
				w.unav = unav
			}
			w.unavMu.Unlock()
			pages[i] = zeroPage
		case errors.As(err, &unav):
			return nil, fmt.Errorf("%w: %v, and no full-page image after the redo point %s of the checkpoint at %s restores it",
				ErrNotRestorable, err, p.SourceRedo, p.SourceCheckpoint)
		default:
			tag := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: first + schema.BlockNumber(i)}
			return nil, fmt.Errorf("page %s at %s: %w", tag, p.Target, err)
		}
	}
	return pages, nil
}

// writeAux writes the relation maps and SLRU segments at the target.
func (b *Backup) writeAux(ctx context.Context, w *writeState) error {
	p := w.p
	store := b.mat.Store()
	for _, rel := range p.relMaps {
		page, _, err := store.PageAt(schema.RelMapTag(rel.SpcNode, rel.DbNode), p.Target)
		if err != nil {
			return fmt.Errorf("relation map of database %d in tablespace %d at %s: %w", rel.DbNode, rel.SpcNode, p.Target, err)
		}
		if err := w.file(p.dbDir(rel.SpcNode, rel.DbNode)+"/pg_filenode.map", page[:schema.RelMapFileSize]); err != nil {
			return err
		}
	}
	// Without replay, PostgreSQL's start reads the pages holding the next
	// xid, multixact and member offset (TrimCLOG, TrimMultiXact): they
	// exist, zero if nothing was on them at the target.
	need := map[uint32]uint32{}
	if w.st.Mode == NoReplay {
		cp := p.control.CheckPoint
		need[schema.AuxRelXact] = uint32(cp.NextXid) / schema.ClogXactsPerPage
		need[schema.AuxRelMultiXactOffsets] = cp.NextMulti / schema.MultiXactOffsetsPerPage
		need[schema.AuxRelMultiXactMembers] = cp.NextMultiOffset / schema.MultiXactMembersPerPage
	}
	for _, kind := range []uint32{schema.AuxRelXact, schema.AuxRelMultiXactOffsets, schema.AuxRelMultiXactMembers} {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir, _ := schema.SlruDir(kind)
		tags, err := store.PagesOf(schema.SlruTag(kind, 0).Rel, schema.MainForkNum, false, 0)
		if err != nil {
			return err
		}
		// Pages that exist at the target, by segment.
		pages := map[uint32]schema.Page{}
		for _, tag := range tags {
			page, _, err := store.PageAt(tag, p.Target)
			if errors.Is(err, pagestore.ErrNotFound) {
				continue
			} else if err != nil {
				return fmt.Errorf("%s page %d at %s: %w", dir, tag.Block, p.Target, err)
			}
			pages[uint32(tag.Block)] = page
		}
		if pg, ok := need[kind]; ok && pages[pg] == nil {
			pages[pg] = zeroPage
		}
		segs := map[uint32][]schema.Page{}
		for pg, page := range pages {
			seg, idx := pg/schema.SlruPagesPerSegment, int(pg%schema.SlruPagesPerSegment)
			s := segs[seg]
			for len(s) <= idx {
				s = append(s, zeroPage)
			}
			s[idx] = page
			segs[seg] = s
		}
		order := make([]uint32, 0, len(segs))
		for seg := range segs {
			order = append(order, seg)
		}
		slices.Sort(order)
		for _, seg := range order {
			if err := w.file(dir+"/"+schema.SlruSegmentName(seg), bytes.Join(asBytes(segs[seg]), nil)); err != nil {
				return err
			}
		}
	}
	return nil
}

func asBytes(pages []schema.Page) [][]byte {
	out := make([][]byte, len(pages))
	for i, p := range pages {
		out[i] = p
	}
	return out
}

// writeEnd writes what says how PostgreSQL starts: the two-phase state
// files, the WAL and, last, pg_control (a directory without it is not
// mistaken for a complete one).
func (b *Backup) writeEnd(ctx context.Context, w *writeState) error {
	p, st := w.p, w.st
	cf, err := schema.ParseControlFile(p.baseCtl)
	if err != nil {
		return fmt.Errorf("base backup's pg_control: %w", err)
	}
	now := b.nowFn()
	prepared := p.Prepared
	if st.Mode == Replay && p.Mode == NoReplay {
		// Switched: recovery reads the state of the transactions prepared
		// before the redo point from files, and replays later PREPAREs.
		sub := &Plan{Target: p.SourceRedo, prefix: p.prefix, baseStart: p.baseStart}
		if err := b.planPrepared(ctx, sub); err != nil {
			return err
		}
		prepared = sub.Prepared
	}
	for _, x := range prepared {
		if err := w.file(schema.TwoPhaseDir+"/"+schema.TwoPhaseFileName(x.Xid), x.TwoPhaseFile()); err != nil {
			return err
		}
		st.Prepared++
	}
	if p.Timeline > 1 {
		// Not needed to start, but it is the timeline's history, as the
		// source's pg_wal holds it.
		h := b.mat.Store().TimeLineHistory().Upto(p.Timeline)
		if h != nil {
			if err := w.file("pg_wal/"+schema.TLHistoryFileName(p.Timeline), h.HistoryFile()); err != nil {
				return err
			}
		}
	}
	emit := func(segNo uint64, data []byte) error {
		st.WALSegments++
		return w.file("pg_wal/"+schema.XLogFileName(p.Timeline, schema.XLogSegNo(segNo), cf.XLogSegSize), data)
	}
	if st.Mode == NoReplay {
		cp := p.control.CheckPoint
		cp.ThisTimeLineID, cp.PrevTimeLineID = p.Timeline, p.Timeline
		cp.OldestActiveXid = 0
		cp.OldestCommitTsXid, cp.NewestCommitTsXid = 0, 0 // pg_commit_ts is not restored
		cp.Time = now.Unix()
		at, end, err := schema.WriteShutdownCheckpoint(p.Target, cf.XLogSegSize, p.Timeline, cf.SystemIdentifier, cp, emit)
		if err != nil {
			return err
		}
		cp.Redo = at
		cf.SetShutdownCheckpoint(at, cp, now)
		if p.control.Params != nil {
			cf.SetParameters(p.control.Params)
		}
		st.Checkpoint, st.End = at, end
	} else {
		// The WAL from the redo point's segment to the target.
		end, err := b.writeWAL(ctx, w, cf.XLogSegSize, cf.SystemIdentifier, emit)
		if err != nil {
			return err
		}
		cf.State = schema.DBInProduction
		cf.CheckPoint = p.SourceCheckpoint
		cf.CheckPointCopy = p.checkpoint
		cf.CheckPointCopy.OldestCommitTsXid, cf.CheckPointCopy.NewestCommitTsXid = 0, 0
		cf.MinRecoveryPoint, cf.MinRecoveryPointTLI = 0, 0
		cf.BackupStartPoint, cf.BackupEndPoint, cf.BackupEndRequired = 0, 0, false
		cf.Time = now.Unix()
		st.Checkpoint, st.End = p.SourceCheckpoint, end
	}
	return w.file(schema.ControlFilePath, cf.Bytes())
}

// writeWAL rebuilds the WAL segments from the redo point's segment to the
// end of the last record at or before the target, from the stream, and
// returns that end.
func (b *Backup) writeWAL(ctx context.Context, w *writeState, segSize uint32, sysID uint64, emit func(uint64, []byte) error) (schema.LSN, error) {
	p := w.p
	firstSeg := uint64(p.SourceRedo) / uint64(segSize)
	sb, err := schema.NewWALSegmentBuilder(segSize, p.Timeline, sysID, func(segNo uint64, data []byte) error {
		if segNo < firstSeg {
			return nil // a record continuing into the first segment
		}
		return emit(segNo, data)
	})
	if err != nil {
		return 0, err
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
			w.st.WALRecords++
		}
		return r.End < p.Target, nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the WAL stream from sequence %d: %w", p.streamFrom, err)
	}
	if last < p.SourceRedo || last < p.SourceCheckpoint {
		return 0, fmt.Errorf("%w: the stream holds WAL only up to %s, not from the redo point %s through the checkpoint %s",
			ErrNotRestorable, last, p.SourceRedo, p.SourceCheckpoint)
	}
	return last, sb.Finish()
}
