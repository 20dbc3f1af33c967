package redo

import (
	"context"
	"errors"
	"io"
	"iter"
	"os"
	"sort"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

type sliceReader struct{ recs []*schema.DecodedRecord }

func (s *sliceReader) Next() (*schema.DecodedRecord, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// fakeRedo applies records with the engine, except those whose LSN is
// in exact or wrong: for those it "replays" each image-only block as a
// perfect redo would (the page becomes the consistency image with the
// record's end LSN), or wrongly (one byte off), or ahead (LSN beyond the
// record, as after a restart), as long as the page is available.
type fakeRedo struct {
	e                   *Engine
	exact, wrong, ahead map[schema.LSN]bool
	wrongOff            int
}

func (f *fakeRedo) apply(rec *schema.DecodedRecord, pages Pages) (Result, error) {
	if !f.exact[rec.LSN] && !f.wrong[rec.LSN] && !f.ahead[rec.LSN] {
		return f.e.Apply(rec, pages)
	}
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		page, ok := pages.Get(blk.Tag)
		if !ok {
			continue
		}
		if err := f.e.Restorer.Restore(page, rec, blk); err != nil {
			return Result{}, err
		}
		page.SetLSN(rec.EndLSN)
		if f.wrong[rec.LSN] {
			page[f.wrongOff] ^= 0xFF
		}
		if f.ahead[rec.LSN] {
			page.SetLSN(rec.EndLSN + 1)
			page[f.wrongOff] ^= 0xFF
		}
	}
	return Result{}, nil
}

// TestVerifyComparison exercises the comparison of verifyBackupPageConsistency:
// equal after masking, a mismatch with its offset, and the skips (page
// never seen, page unavailable after an unsupported record, page LSN
// beyond the record).
func TestVerifyComparison(t *testing.T) {
	e := newTestEngine(t)
	const cc = schema.XLRCheckConsistency
	heapInsert := func(lsn schema.LSN, blk schema.BlockNumber, marker byte) *schema.DecodedRecord {
		return assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: 0x00 | cc, MainData: make([]byte, 3), Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(blk), Image: testHeapPage(t, marker), Data: []byte{1, 2, 3, 4, 5, 6}},
		}}, lsn)
	}
	recs := []*schema.DecodedRecord{
		assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(0), Image: testHeapPage(t, 1), Apply: true},
			{ID: 1, Tag: testTag(1), Image: testHeapPage(t, 1), Apply: true},
			{ID: 2, Tag: testTag(2), Image: testHeapPage(t, 1), Apply: true},
		}}, 0x1000),
		heapInsert(0x2000, 0, 2), // exact: compared, equal
		heapInsert(0x3000, 1, 2), // wrong: mismatch
		heapInsert(0x4000, 5, 2), // page never seen: skipped
		heapInsert(0x5000, 0, 3), // engine: unsupported, page 0 unavailable, skipped
		heapInsert(0x5800, 0, 4), // exact redo, but page 0 unavailable: skipped
		heapInsert(0x6000, 2, 2), // page LSN ahead: skipped
	}
	f := &fakeRedo{e: e,
		exact:    map[schema.LSN]bool{0x2000: true, 0x4000: true, 0x5800: true},
		wrong:    map[schema.LSN]bool{0x3000: true},
		ahead:    map[schema.LSN]bool{0x6000: true},
		wrongOff: schema.BLCKSZ - 10,
	}
	rep, err := verifyWith(context.Background(), &sliceReader{recs}, e.Restorer, f.apply)
	if err != nil {
		t.Fatal(err)
	}
	want := VerifyStats{Records: 7, Applied: 6, Compared: 2, Mismatches: 1, Unsupported: 1}
	if rep.VerifyStats != want {
		t.Fatalf("stats %+v, want %+v", rep.VerifyStats, want)
	}
	if st := rep.ByType["Heap/INSERT"]; st == nil || *st != (VerifyStats{Records: 6, Applied: 5, Compared: 2, Mismatches: 1, Unsupported: 1}) {
		t.Fatalf("Heap/INSERT %+v", st)
	}
	if st := rep.ByType["XLOG/FPI"]; st == nil || st.Applied != 1 {
		t.Fatalf("XLOG/FPI %+v", st)
	}
	if len(rep.FirstMismatches) != 1 {
		t.Fatalf("mismatches %+v", rep.FirstMismatches)
	}
	m := rep.FirstMismatches[0]
	if m.LSN != 0x3000 || m.Tag != testTag(1) || m.Offset != schema.BLCKSZ-10 || m.Record != "Heap/INSERT" || m.Err != "" {
		t.Fatalf("mismatch %+v", m)
	}
}

// TestVerifyKeepsFirstMismatches caps the details at MaxMismatchDetails.
func TestVerifyKeepsFirstMismatches(t *testing.T) {
	e := newTestEngine(t)
	recs := []*schema.DecodedRecord{assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Image: testHeapPage(t, 1), Apply: true},
	}}, 0x1000)}
	f := &fakeRedo{e: e, wrong: map[schema.LSN]bool{}, wrongOff: schema.BLCKSZ - 10}
	for i := 0; i < MaxMismatchDetails+5; i++ {
		lsn := schema.LSN(0x2000 + 0x1000*i)
		f.wrong[lsn] = true
		recs = append(recs, assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: schema.XLRCheckConsistency, MainData: make([]byte, 3), Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(0), Image: testHeapPage(t, 2), Data: []byte{1}},
		}}, lsn))
	}
	rep, err := verifyWith(context.Background(), &sliceReader{recs}, e.Restorer, f.apply)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches != MaxMismatchDetails+5 || len(rep.FirstMismatches) != MaxMismatchDetails {
		t.Fatalf("mismatches %d, details %d", rep.Mismatches, len(rep.FirstMismatches))
	}
}

// TestVerifyPgbench replays the WAL of pgbench on a cluster with
// wal_consistency_checking=all.
func TestVerifyPgbench(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all"})
	start := c.CreatePhysicalSlot(t, "keep")
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Checkpoint(t) // first touches after a checkpoint carry applied images
	c.Pgbench(t, "-T", "2", "-c", "2")
	rep := verifyCluster(t, c, start)
	if rep.Mismatches != 0 {
		t.Fatalf("%d mismatches", rep.Mismatches)
	}
	if rep.Records == 0 || rep.Applied != rep.Records {
		t.Fatalf("not everything replayed: %+v", rep.VerifyStats)
	}
	// pgbench's WAL is heap, heap2, btree, XLOG and transaction records:
	// every one is replayed natively and every consistency image compared.
	for name, s := range rep.ByType {
		if s.Unsupported != 0 {
			t.Errorf("%s: %d unsupported", name, s.Unsupported)
		}
	}
	for _, name := range []string{"Heap/HOT_UPDATE", "Heap/UPDATE", "Heap/INSERT", "Btree/INSERT_LEAF", "Heap2/PRUNE"} {
		if s := rep.ByType[name]; s == nil || s.Compared == 0 {
			t.Errorf("%s: nothing compared: %+v", name, s)
		}
	}
}

// wantVerifiedClean checks that rep has records of each type, all applied
// natively, some compared and none mismatched.
func wantVerifiedClean(t *testing.T, rep *VerifyReport, types ...string) {
	t.Helper()
	for _, n := range types {
		s := rep.ByType[n]
		if s == nil {
			t.Errorf("%s: no records", n)
			continue
		}
		if s.Compared == 0 || s.Mismatches != 0 || s.Unsupported != 0 || s.Applied != s.Records {
			t.Errorf("%s: %+v", n, *s)
		}
	}
}

// clusterWAL copies the cluster's WAL and opens it from start to the
// current LSN; the reader is closed when the test ends.
func clusterWAL(t *testing.T, c *pgtest.Cluster, start string) *schema.DirReader {
	t.Helper()
	end := c.CurrentWALLSN(t)
	dir := t.TempDir()
	c.CopyWAL(t, dir)
	startLSN, _ := schema.ParseLSN(start)
	endLSN, _ := schema.ParseLSN(end)
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: startLSN, End: endLSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// walRecords yields d's records up to io.EOF, failing tb on a read error.
func walRecords(tb testing.TB, d *schema.DirReader) iter.Seq[*schema.DecodedRecord] {
	return func(yield func(*schema.DecodedRecord) bool) {
		for {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				tb.Fatalf("read WAL: %v", err)
			}
			if !yield(rec) {
				return
			}
		}
	}
}

// dirRecords is walRecords over the WAL in dir, read with opts; the reader
// is closed when the loop ends, so benchmarks can reopen it per iteration.
func dirRecords(tb testing.TB, dir string, opts schema.DirOptions) iter.Seq[*schema.DecodedRecord] {
	return func(yield func(*schema.DecodedRecord) bool) {
		d, err := schema.OpenWALDir(os.DirFS(dir), opts)
		if err != nil {
			tb.Fatal(err)
		}
		defer d.Close()
		walRecords(tb, d)(yield)
	}
}

// verifyCluster copies the cluster's WAL, runs Verify over [start, the
// current LSN), logs the per-type figures and reports every mismatch.
func verifyCluster(t *testing.T, c *pgtest.Cluster, start string) *VerifyReport {
	t.Helper()
	d := clusterWAL(t, c, start)
	rep, err := Verify(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(rep.ByType))
	for n := range rep.ByType {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := rep.ByType[n]
		t.Logf("%-28s records %7d applied %7d compared %6d mismatches %d unsupported %7d", n, s.Records, s.Applied, s.Compared, s.Mismatches, s.Unsupported)
	}
	t.Logf("total: %+v", rep.VerifyStats)
	for _, m := range rep.FirstMismatches {
		t.Errorf("mismatch: %+v", m)
	}
	return rep
}
