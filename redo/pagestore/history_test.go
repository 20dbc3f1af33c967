package pagestore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestHistory: History lists every version of a page in a window once,
// oldest first, with the records as they were written — from packs that
// begin before the window, overlapping packs after a crash, between
// images — and markers; the limit cuts the list and says so.
func TestHistory(t *testing.T) {
	tag, recs, want := pageHistory(t, 40)
	s := openTest(t)
	end := writeHistory(t, s, tag, recs, want)
	check := func(name string, got []Version, first, last int, markers bool) {
		t.Helper()
		checkHistoryVersions(t, recs, end, name, got, first, last, markers)
	}
	all, more, err := s.History(tag, 0, end+1000, 0)
	if err != nil || more {
		t.Fatal(err, more)
	}
	check("everything", all, 0, 39, true)

	// A window that starts inside the first pack and ends inside the
	// second: (from, to] on the versions' LSNs.
	got, more, err := s.History(tag, recs[9].EndLSN, recs[27].EndLSN, 0)
	if err != nil || more {
		t.Fatal(err, more)
	}
	check("(9, 27]", got, 10, 27, false)
	got, _, _ = s.History(tag, recs[9].EndLSN-1, recs[27].EndLSN-1, 0)
	check("(9-, 27-]", got, 9, 26, false)

	// The limit.
	got, more, err = s.History(tag, recs[9].EndLSN, end, 5)
	if err != nil || !more {
		t.Fatalf("limit 5: more %v, %v", more, err)
	}
	check("limit 5", got, 10, 14, false)
	got, more, _ = s.History(tag, recs[9].EndLSN, recs[14].EndLSN, 5)
	if more {
		t.Fatal("exactly 5 in the window: more")
	}
	check("exactly 5", got, 10, 14, false)

	if got, _, err := s.History(tag, end, end, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty window: %d, %v", len(got), err)
	}
	if got, _, err := s.History(schema.BufferTag{Rel: tag.Rel, Block: 9999}, 0, end, 0); err != nil || len(got) != 0 {
		t.Fatalf("page without versions: %d, %v", len(got), err)
	}
}

// writeHistory writes the page's history in two commits: an image and
// records 1..24, then records 20..39 (20..24 again, as after a crash)
// with an image at 30 and a record with an image at 35, an unavailable
// and an absent marker, and another page's image. It returns the last
// record's end.
func writeHistory(t *testing.T, s *Store, tag schema.BufferTag, recs []*schema.DecodedRecord, want []schema.Page) schema.LSN {
	t.Helper()
	w := s.NewWriter()
	w.PutImage(tag, recs[0].EndLSN, want[0])
	for i := 1; i < 25; i++ {
		w.PutRecord(tag, recs[i], false)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w = s.NewWriter()
	for i := 20; i < 40; i++ { // records 20..24 again, as after a crash
		switch i {
		case 30:
			w.PutImage(tag, recs[i].EndLSN, want[i])
		case 35:
			w.PutRecord(tag, recs[i], true)
		default:
			w.PutRecord(tag, recs[i], false)
		}
	}
	end := recs[39].EndLSN
	w.PutUnavailable(tag, end+100, "test: not replayable")
	w.PutAbsent(tag, end+200)
	// Another page's versions must not show.
	other := tag
	other.Block++
	w.PutImage(other, recs[5].EndLSN, want[5])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return end
}

// checkHistoryVersions fails unless got holds versions first..last of
// writeHistory's page, and its two markers after them if markers.
func checkHistoryVersions(t *testing.T, recs []*schema.DecodedRecord, end schema.LSN, name string, got []Version, first, last int, markers bool) {
	t.Helper()
	n := last - first + 1
	if markers {
		n += 2
	}
	if len(got) != n {
		t.Fatalf("%s: %d versions, want %d", name, len(got), n)
	}
	for i := first; i <= last; i++ {
		v := got[i-first]
		kind := byte(KindRecord)
		switch i {
		case 0, 30:
			kind = KindImage
		case 35:
			kind = KindRecordImage
		}
		if v.LSN != recs[i].EndLSN || v.Kind != kind {
			t.Fatalf("%s: version %d is %s kind %d, want %s kind %d", name, i, v.LSN, v.Kind, recs[i].EndLSN, kind)
		}
		if kind == KindImage {
			if v.Record != nil || v.Start != 0 {
				t.Fatalf("%s: image %d has a record", name, i)
			}
			continue
		}
		if v.Start != recs[i].LSN || !bytes.Equal(v.Record, recs[i].Raw) {
			t.Fatalf("%s: version %d: start %s, %d bytes of record; want %s, %d bytes", name, i, v.Start, len(v.Record), recs[i].LSN, len(recs[i].Raw))
		}
	}
	if markers {
		if u := got[n-2]; u.Kind != KindUnavailable || u.LSN != end+100 || u.Reason != "test: not replayable" {
			t.Fatalf("%s: unavailable marker %+v", name, u)
		}
		if a := got[n-1]; a.Kind != KindAbsent || a.LSN != end+200 {
			t.Fatalf("%s: absent marker %+v", name, a)
		}
	}
}

func TestRoundOf(t *testing.T) {
	s := openTest(t)
	if _, _, _, err := s.RoundOf(100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no rounds: %v", err)
	}
	w := s.NewWriter()
	w.PutRound(1000, 5)
	w.PutRound(2000, 9)
	w.PutRound(3000, 14)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lsn     schema.LSN
		end     schema.LSN
		prev    uint64
		prevOK  bool
		missing bool
	}{
		{500, 1000, 0, false, false},
		{1000, 1000, 0, false, false},
		{1001, 2000, 5, true, false},
		{2000, 2000, 5, true, false},
		{2500, 3000, 9, true, false},
		{3001, 0, 0, false, true},
	} {
		r, prev, ok, err := s.RoundOf(tc.lsn)
		if tc.missing {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%d: %v, want not found", tc.lsn, err)
			}
			continue
		}
		if err != nil || r.End != tc.end || prev != tc.prev || ok != tc.prevOK {
			t.Errorf("%d: round %+v, prev %d %v, %v; want end %d, prev %d %v", tc.lsn, r, prev, ok, err, tc.end, tc.prev, tc.prevOK)
		}
	}
}
