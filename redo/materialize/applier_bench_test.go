package materialize

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"

	"github.com/pagemill/pagemill/internal/testwal"
	"github.com/pagemill/pagemill/redo/materialize/applier"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// benchSink writes an applier's output to a page store writer, as a
// shard's sink does.
type benchSink struct {
	st      *pagestore.Store
	w       *pagestore.Writer
	flushes int
}

func (k *benchSink) PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page) {
	k.w.PutImage(tag, lsn, page)
}
func (k *benchSink) PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord) {
	k.w.PutRecord(tag, rec, false)
}
func (k *benchSink) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	k.w.PutUnavailable(tag, lsn, reason)
}
func (k *benchSink) PutAbsent(tag schema.BufferTag, lsn schema.LSN) { k.w.PutAbsent(tag, lsn) }
func (k *benchSink) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, change applier.SizeChange, n schema.BlockNumber) {
	k.w.PutSize(rel, fork, lsn, shard, sizeKind(change), n)
}
func (k *benchSink) PutCheckpoint(lsn, end schema.LSN, data []byte) {
	k.w.PutCheckpoint(lsn, end, data)
}
func (k *benchSink) Flush() error {
	k.flushes++
	return k.commit()
}

// commit commits the writer and starts a new one.
func (k *benchSink) commit() error {
	if err := k.w.Commit(); err != nil {
		return err
	}
	k.w = k.st.NewWriter()
	return nil
}

// countingStore counts the applier's loads of current pages from the
// store and the records replayed for them.
type countingStore struct {
	storeView
	loads, records int
}

func (c *countingStore) Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	p, lsn, n, err := c.storeView.Latest(tag, buf)
	c.loads++
	c.records += n
	return p, lsn, n, err
}

// BenchmarkApplierWALDir runs one applier owning every page over a kept
// WAL (PAGEMILL_REPLAY_WAL="DIR START END", as redo's replay benchmarks)
// into a page store on disk, committing and evicting every 2,000
// records as a shard does after a batch. PAGEMILL_BENCH_CACHE_PAGES sets
// CachePages (default 4096, about two thirds of the pages pgbench at
// scale 4 changes, as the default cache is of scale 10's over two
// shards). One op is the whole WAL; loads/op counts the pages read back
// from the store, replayed/op the records replayed for them, flushes/op
// the applier's own flushes (relation-level changes).
func BenchmarkApplierWALDir(b *testing.B) {
	dir, opts := testwal.KeptWAL(b)
	cachePages := 4096
	if v := os.Getenv("PAGEMILL_BENCH_CACHE_PAGES"); v != "" {
		var err error
		if cachePages, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	const commitEvery = 2000
	var loads, replayed, recs, flushes int
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st, err := pagestore.Open(pagestore.Options{Dir: b.TempDir(), Shards: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		d, err := schema.OpenWALDir(os.DirFS(dir), opts)
		if err != nil {
			b.Fatal(err)
		}
		view := &countingStore{storeView: storeView{st, &shard{}}}
		sink := &benchSink{st: st, w: st.NewWriter()}
		ap, err := applier.New(applier.Config{Sizes: true, CachePages: cachePages, ImageEvery: 64}, view, sink)
		if err != nil {
			b.Fatal(err)
		}
		var tags []schema.BufferTag
		b.StartTimer()
		for n := 1; ; n++ {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if tags = schema.PagesChanged(tags[:0], rec); len(tags) > 0 {
				err = ap.Apply(rec)
			} else {
				err = ap.ApplyMeta(rec)
			}
			if err != nil {
				b.Fatal(err)
			}
			recs++
			if n%commitEvery == 0 {
				ap.Evict()
				if err := sink.commit(); err != nil {
					b.Fatal(err)
				}
				ap.TakeWritten()
				ap.TakeStats()
			}
		}
		if err := sink.commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		flushes += sink.flushes
		loads += view.loads
		replayed += view.records
		d.Close()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(loads)/float64(b.N), "loads/op")
	b.ReportMetric(float64(replayed)/float64(b.N), "replayed/op")
	b.ReportMetric(float64(flushes)/float64(b.N), "flushes/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
}
