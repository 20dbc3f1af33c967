package redo

import (
	"errors"
	"slices"
	"testing"

	"github.com/pagemill/pagemill/internal/testwal"
	"github.com/pagemill/pagemill/schema"
)

// prunedPages replays the kept WAL (PAGEMILL_REPLAY_WAL) and returns, for
// up to max HEAP2 PRUNE records that redo applies to a page (not an
// image), the page as PageRepairFragmentation finds it: the record's
// redirects, dead and unused line pointers already set.
func prunedPages(b *testing.B, max int) []schema.Page {
	b.Helper()
	dir, opts := testwal.KeptWAL(b)
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Restorer.Close()
	pages := NewMemPages()
	var out []schema.Page
	for rec := range dirRecords(b, dir, opts) {
		if len(out) >= max {
			break
		}
		if p := prePrunePage(rec, pages); p != nil {
			out = append(out, p)
		}
		res, err := eng.Apply(rec, pages)
		if res.Truncate != nil {
			pages.Truncate(res.Truncate)
		}
		var uns *Unsupported
		if err != nil && !errors.As(err, &uns) {
			b.Fatal(err)
		}
	}
	if len(out) == 0 {
		b.Skip("no HEAP2 PRUNE record changes a page in the kept WAL")
	}
	return out
}

// prePrunePage is rec's page before PageRepairFragmentation, when rec is
// a HEAP2 PRUNE record redo applies to the page in pages.
func prePrunePage(rec *schema.DecodedRecord, pages *MemPages) schema.Page {
	if rec.Rmgr() != schema.RmgrHeap2 || rec.Info()&schema.XLogHeapOpMask != schema.XLogHeap2Prune {
		return nil
	}
	xl, err := schema.DecodeXlHeapPrune(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found || rec.Blocks[i].ApplyImage() {
		return nil
	}
	redirected, nowdead, nowunused, err := schema.DecodeHeapPruneOffsets(xl, rec.Blocks[i].Data)
	if err != nil {
		return nil
	}
	cur, ok := pages.Get(rec.Blocks[i].Tag)
	if !ok || cur.IsNew() || cur.LSN() >= rec.LSN {
		return nil
	}
	p := slices.Clone(cur)
	for k := 0; k+1 < redirected.Len(); k += 2 {
		lp, ok := heap2LinePointer(p, redirected.At(k))
		if !ok {
			return nil
		}
		lp.SetRedirect(redirected.At(k + 1))
		_ = p.SetItemID(redirected.At(k), lp)
	}
	if !setLinePointers(p, nowdead, lpDead) || !setLinePointers(p, nowunused, lpUnused) {
		return nil
	}
	return p
}

// BenchmarkPageRepairFragmentation runs PageRepairFragmentation on the
// pages the kept WAL's prune records find (PAGEMILL_REPLAY_WAL, as the
// replay benchmarks): one op is one page, its copy into place included.
func BenchmarkPageRepairFragmentation(b *testing.B) {
	src := prunedPages(b, 20000)
	work := make(schema.Page, schema.BLCKSZ)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		copy(work, src[i%len(src)])
		if err := PageRepairFragmentation(work); err != nil {
			b.Fatal(err)
		}
	}
}
