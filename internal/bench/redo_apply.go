package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// walOpener opens the range's WAL; with reuse, a record is valid only
// until the next (schema.DirOptions.ReuseRecords), which one goroutine
// handling record after record can afford and the page-parallel runs,
// which hand records to workers, cannot.
type walOpener func(reuse bool) (*schema.DirReader, error)

// scanWAL reads the range once and returns the end of its last record,
// that record's start and the number of records. With toEnd, a decoding
// error ends the range (the end of valid WAL, as for crash recovery).
func scanWAL(open walOpener, toEnd bool) (end, last schema.LSN, n int64, err error) {
	d, err := open(true)
	if err != nil {
		return 0, 0, 0, err
	}
	defer d.Close()
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if toEnd && n > 0 {
				break
			}
			return 0, 0, 0, fmt.Errorf("after %d records: %w", n, err)
		}
		end, last = rec.EndLSN, rec.LSN
		n++
	}
	if n == 0 {
		return 0, 0, 0, errors.New("no records in the range")
	}
	return end, last, n, nil
}

// timeMemRedo replays the range into memory: serially (workers 0: one
// goroutine reads, checks, decodes and applies), or page-parallel with
// workers goroutines fed by the calling goroutine, which decodes.
func timeMemRedo(ctx context.Context, open walOpener, workers int) (redoRow, error) {
	row := redoRow{workers: workers}
	switch workers {
	case 0:
		row.name = "pagemill redo, serial (decode + apply, 1 goroutine)"
	case 1:
		row.name = "pagemill redo, reader + 1 worker"
	default:
		row.name = fmt.Sprintf("pagemill redo, reader + %d workers (by page)", workers)
	}
	d, err := open(workers == 0)
	if err != nil {
		return row, err
	}
	defer d.Close()
	row.load = quiesce()
	sw := startWatch(syscall.RUSAGE_SELF)
	if workers == 0 {
		err = serialRedo(ctx, d, &row)
	} else {
		err = parallelRedo(ctx, d, workers, &row)
	}
	row.elapsed, row.cpu = sw.elapsed()
	return row, err
}

// eachRecord calls f on every record d reads until the end of the range,
// checking ctx every 4096 records.
func eachRecord(ctx context.Context, d *schema.DirReader, f func(*schema.DecodedRecord) error) error {
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(rec); err != nil {
			return err
		}
	}
}

// applier applies records with one redo engine, counting the unsupported
// ones. Its Result is reused record after record (Engine.ApplyTo).
type applier struct {
	e           *redo.Engine
	res         redo.Result
	unsupported int64
}

func newApplier() (*applier, error) {
	e, err := redo.NewEngine()
	if err != nil {
		return nil, fmt.Errorf("redo engine: %w", err)
	}
	return &applier{e: e}, nil
}

func (a *applier) close() { a.e.Restorer.Close() }

// apply applies rec to pages; an unsupported record is counted, any other
// error ends the run.
func (a *applier) apply(rec *schema.DecodedRecord, pages redo.Pages, truncate func(*redo.Truncation)) error {
	err := a.e.ApplyTo(&a.res, rec, pages)
	if a.res.Truncate != nil {
		truncate(a.res.Truncate)
	}
	if err != nil {
		var uns *redo.Unsupported
		if !errors.As(err, &uns) {
			return fmt.Errorf("redo of %s at %s: %w", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
		}
		a.unsupported++
	}
	return nil
}

func serialRedo(ctx context.Context, d *schema.DirReader, row *redoRow) error {
	a, err := newApplier()
	if err != nil {
		return err
	}
	defer a.close()
	pages := redo.NewMemPages()
	err = eachRecord(ctx, d, func(rec *schema.DecodedRecord) error { return a.apply(rec, pages, pages.Truncate) })
	row.unsupported, row.pages = a.unsupported, pages.Len()
	return err
}

// redoBatch is how many records go to a worker at a time.
const redoBatch = 256

// redoWorker is one page-parallel worker: it applies the batches it is
// sent to the pages it owns.
type redoWorker struct {
	in          chan []*schema.DecodedRecord
	batch       []*schema.DecodedRecord // being filled
	unsupported int64
	pages       int
	err         error
}

func (w *redoWorker) run(id, all int) {
	a, err := newApplier()
	if err != nil {
		w.err = err
		for range w.in {
		}
		return
	}
	defer a.close()
	mem := redo.NewMemPages()
	// A worker's view of the pages, as the materializer's shards have:
	// pages of other workers are not there (those workers apply the same
	// record to them).
	view := redo.OwnedPages{In: mem, Own: func(tag schema.BufferTag) bool { return streams.ShardOf(tag, all) == id }}
	for batch := range w.in {
		if w.err != nil {
			continue // drain
		}
		for _, rec := range batch {
			if w.err = a.apply(rec, view, mem.Truncate); w.err != nil {
				break
			}
		}
	}
	w.unsupported, w.pages = a.unsupported, mem.Len()
}

// parallelRedo decodes on the calling goroutine and routes every record to
// the workers owning the pages it changes (schema.PagesChanged: its blocks
// and the vm pages it clears implicitly, by streams.ShardOf), so a record
// whose pages span workers goes to each of them. Storage records
// (truncation) go to every worker; other records that change no page are
// spread round-robin.
func parallelRedo(ctx context.Context, d *schema.DirReader, workers int, row *redoRow) error {
	ws := make([]*redoWorker, workers)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &redoWorker{in: make(chan []*schema.DecodedRecord, 16), batch: make([]*schema.DecodedRecord, 0, redoBatch)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i].run(i, workers)
		}()
	}
	var tags []schema.BufferTag
	next := 0
	readErr := eachRecord(ctx, d, func(rec *schema.DecodedRecord) error {
		tags = schema.PagesChanged(tags[:0], rec)
		var mask uint64
		switch {
		case len(tags) > 0:
			for _, t := range tags {
				mask |= 1 << streams.ShardOf(t, workers)
			}
		case rec.Rmgr() == schema.RmgrStorage:
			mask = 1<<workers - 1
		default:
			mask = 1 << next
			next = (next + 1) % workers
		}
		for i, w := range ws {
			if mask&(1<<i) == 0 {
				continue
			}
			if w.batch = append(w.batch, rec); len(w.batch) == redoBatch {
				w.in <- w.batch
				w.batch = make([]*schema.DecodedRecord, 0, redoBatch)
			}
		}
		return nil
	})
	for _, w := range ws {
		if len(w.batch) > 0 {
			w.in <- w.batch
		}
		close(w.in)
	}
	wg.Wait()
	errs := []error{readErr}
	for _, w := range ws {
		row.unsupported += w.unsupported
		row.pages += w.pages
		errs = append(errs, w.err)
	}
	return errors.Join(errs...)
}

// rmgrProfile is the serial redo time spent per resource manager.
type rmgrProfile struct {
	rmgr    schema.RmgrID
	records int64
	bytes   int64 // total record length
	elapsed time.Duration
}

// profileRedo replays the range serially, timing every record's Apply
// (two clock reads per record, which is why it is a pass of its own and
// not one of the timed runs), and returns the time per resource manager,
// most time first. Decoding is not included.
func profileRedo(ctx context.Context, open walOpener) ([]rmgrProfile, error) {
	d, err := open(true)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	a, err := newApplier()
	if err != nil {
		return nil, err
	}
	defer a.close()
	pages := redo.NewMemPages()
	var by [schema.RmgrMaxBuiltin + 1]rmgrProfile
	err = eachRecord(ctx, d, func(rec *schema.DecodedRecord) error {
		t0 := time.Now()
		if err := a.apply(rec, pages, pages.Truncate); err != nil {
			return err
		}
		if r := rec.Rmgr(); int(r) < len(by) {
			p := &by[r]
			p.rmgr = r
			p.elapsed += time.Since(t0)
			p.records++
			p.bytes += int64(rec.Header.TotLen)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []rmgrProfile
	for _, p := range by {
		if p.records > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].elapsed > out[j].elapsed })
	return out, nil
}

// rmgrSection is the per-resource-manager table of a profile.
func rmgrSection(prof []rmgrProfile) Section {
	t := &Table{Label: "rmgr", LabelWidth: 12, Columns: []Column{{"records", 10, 0}, {"MB", 10, 1}, {"MB/s", 10, 1}, {"µs/record", 12, 3}}}
	for _, p := range prof {
		s, mb := p.elapsed.Seconds(), float64(p.bytes)/1e6
		t.Rows = append(t.Rows, Row{Name: p.rmgr.String(), Values: []Value{Num(float64(p.records)), Num(mb), Rate(mb, s), Num(s * 1e6 / float64(p.records))}})
	}
	return Section{Lines: []string{"pagemill serial redo per resource manager (Apply only, timed per record):"}, Table: t}
}
