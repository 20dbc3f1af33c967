package pagestore

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestTimelineSwitch: after a switch at 200, what timeline 1 wrote past
// 200 (an abandoned branch) is never read — page versions, sizes,
// histories, GC — while reads at or below 200 still see timeline 1.
func TestTimelineSwitch(t *testing.T) {
	s := openTest(t)
	tag := schema.BufferTag{Rel: rel, Block: 3}
	only := schema.BufferTag{Rel: rel, Block: 9} // changed only on the abandoned branch
	w := s.NewWriter()
	w.PutImage(tag, 100, marked(1))
	w.PutImage(tag, 200, marked(2))
	w.PutImage(tag, 300, marked(3)) // abandoned
	w.PutImage(only, 300, marked(9))
	w.PutSize(rel, schema.MainForkNum, 100, 0, SizeSet, 4)
	w.PutSize(rel, schema.MainForkNum, 300, 0, SizeExtend, 10) // abandoned
	w.SetApplied(0, 300, 7)
	w.PutRound(300, 7)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	h2, err := schema.ParseTimeLineHistory(2, []byte("1\t0/C8\tno recovery target specified\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SwitchTimeline(h2, 200); err != nil {
		t.Fatal(err)
	}
	if lsn, seq, _ := s.Applied(0); lsn != 200 || seq != 7 {
		t.Errorf("applied after the switch: %s seq %d, want 0/C8 seq 7", lsn, seq)
	}
	if _, _, _, err := s.RoundOf(250); !errors.Is(err, ErrNotFound) {
		t.Errorf("the abandoned round is still indexed: %v", err)
	}
	w = s.NewWriter()
	w.PutImage(tag, 250, marked(5))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			lsn     schema.LSN
			mark    byte
			version schema.LSN
		}{{150, 1, 100}, {200, 2, 200}, {260, 5, 250}, {300, 5, 250}, {1 << 40, 5, 250}} {
			p, v, err := s.PageAt(tag, c.lsn)
			if err != nil || p[100] != c.mark || v != c.version {
				t.Errorf("%s: page at %d: mark %d version %d err %v, want mark %d version %d", when, c.lsn, p[100], v, err, c.mark, c.version)
			}
		}
		if _, _, err := s.PageAt(only, 400); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: a page only the abandoned branch wrote: %v, want ErrNotFound", when, err)
		}
		if n, ok, err := s.RelSize(rel, schema.MainForkNum, 400); err != nil || !ok || n != 4 {
			t.Errorf("%s: size at 400: %d %v %v, want 4 (the abandoned extension is not history)", when, n, ok, err)
		}
		vs, _, err := s.History(tag, 0, 1000, 0)
		var lsns []string
		for _, v := range vs {
			lsns = append(lsns, v.LSN.String())
		}
		if got := strings.Join(lsns, " "); err != nil || got != "0/00000064 0/000000C8 0/000000FA" {
			t.Errorf("%s: history %s (%v)", when, got, err)
		}
	}
	check("after the switch")

	// Reopening keeps the history; GC past the switch drops the branch.
	if got := s.TimeLineHistory().String(); got != h2.String() {
		t.Errorf("history %s, want %s", got, h2)
	}
	if err := s.MoveHorizon(400); err != nil {
		t.Fatal(err)
	}
	st, err := s.Collect(400)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deleted != 4 { // tag's 100, 200 and 300 (abandoned), only's 300 (abandoned)
		t.Errorf("GC deleted %d versions, want 4", st.Deleted)
	}
	if p, v, err := s.PageAt(tag, 400); err != nil || p[100] != 5 || v != 250 {
		t.Errorf("after GC: page at 400: version %d err %v", v, err)
	}
	if _, _, err := s.PageAt(only, 400); !errors.Is(err, ErrNotFound) {
		t.Errorf("after GC: a page only the abandoned branch wrote: %v", err)
	}
	if err := s.SwitchTimeline(schema.SingleTimeLine(3), 500); !errors.Is(err, schema.ErrBadHistory) {
		t.Errorf("a history that does not continue the store's: %v", err)
	}
}

func TestFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	w.SetMeta(metaFormat, []byte{0, 0, 0, 1})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("open a store of format 1: %v", err)
	}
}
