package pagestore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestPagesAt: reading a range of blocks at once gives, block by block and
// at every LSN, what PageAt gives: pages replayed from packs, images,
// blocks never written, unavailable and absent ones, and the page of a
// neighbouring fork left out.
func TestPagesAt(t *testing.T) {
	tag, recs, _ := pageHistory(t, 30)
	s := openTest(t)
	w := s.NewWriter()
	for _, r := range recs[:1] {
		w.PutRecord(tag, r, true)
	}
	for _, r := range recs[1:] {
		w.PutRecord(tag, r, false)
	}
	other := func(b schema.BlockNumber) schema.BufferTag {
		return schema.BufferTag{Rel: tag.Rel, Fork: tag.Fork, Block: b}
	}
	first := max(tag.Block, 3) - 3
	w.PutImage(other(first), recs[0].EndLSN, marked(1))
	w.PutImage(other(first), recs[10].EndLSN, marked(2))
	w.PutUnavailable(other(first+1), recs[5].EndLSN, "test")
	w.PutImage(other(first+1), recs[20].EndLSN, marked(3))
	w.PutImage(other(tag.Block+1), recs[0].EndLSN, marked(4))
	w.PutAbsent(other(tag.Block+1), recs[15].EndLSN)
	w.PutImage(schema.BufferTag{Rel: tag.Rel, Fork: tag.Fork + 1, Block: first}, recs[0].EndLSN, marked(9))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	n := int(tag.Block-first) + 3
	for _, r := range recs {
		for _, lsn := range []schema.LSN{r.EndLSN, r.EndLSN - 1} {
			pages, errs, err := s.PagesAt(tag.Rel, tag.Fork, first, n, lsn)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				b := other(first + schema.BlockNumber(i))
				want, _, werr := s.PageAt(b, lsn)
				if fmt.Sprint(werr) != fmt.Sprint(errs[i]) || !bytes.Equal(want, pages[i]) {
					t.Fatalf("%s at %s: PagesAt gives err %v (page equal %v), PageAt err %v", b, lsn, errs[i], bytes.Equal(want, pages[i]), werr)
				}
			}
		}
	}
	_, errs, _ := s.PagesAt(tag.Rel, tag.Fork, first, n, recs[6].EndLSN)
	if !errors.Is(errs[1], ErrUnavailable) || !errors.Is(errs[n-1], ErrNotFound) {
		t.Errorf("at record 6: errors %v", errs)
	}
}
