package pagestore

import (
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestCommitTimeIndex: blocks of commit times, some out of LSN order;
// lookups by time give the last record whose newest time so far is at or
// before it (in the block, across blocks, before the first, after the
// last), lookups by LSN the newest time so far, resuming continues the
// newest time, and dropping after an LSN and trimming below a horizon
// remove blocks.
func TestCommitTimeIndex(t *testing.T) {
	s := openTest(t)
	w := s.NewWriter()
	m := w.PutCommitTimes([]CommitTime{{100, 1000}, {200, 1010}, {300, 1005}, {400, 1020}}, 0)
	m = w.PutCommitTimes([]CommitTime{{500, 1030}, {600, 1025}}, m)
	m = w.PutCommitTimes([]CommitTime{{700, 1040}}, m)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if m != 1040 {
		t.Fatalf("newest time after the blocks: %d", m)
	}
	for _, c := range []struct {
		t    schema.TimestampTz
		end  schema.LSN
		none bool
	}{
		{999, 0, true}, {1000, 100, false}, {1005, 100, false}, {1010, 300, false}, {1019, 300, false},
		{1020, 400, false}, {1029, 400, false}, {1030, 600, false}, {1039, 600, false}, {1040, 700, false}, {5000, 700, false},
	} {
		p, ok, err := s.CommitAtTime(c.t)
		if err != nil || ok == c.none || (ok && p.End != c.end) {
			t.Errorf("commit at time %d: %+v ok=%v %v, want end %d (none %v)", c.t, p, ok, err, c.end, c.none)
		}
		if ok && p.Newest > c.t {
			t.Errorf("commit at time %d: newest %d is after it", c.t, p.Newest)
		}
	}
	for _, c := range []struct {
		lsn    schema.LSN
		end    schema.LSN
		newest schema.TimestampTz
		none   bool
	}{
		{99, 0, 0, true}, {100, 100, 1000, false}, {350, 300, 1010, false}, {450, 400, 1020, false}, {600, 600, 1030, false}, {9999, 700, 1040, false},
	} {
		p, ok, err := s.LastCommitTime(c.lsn)
		if err != nil || ok == c.none || (ok && (p.End != c.end || p.Newest != c.newest)) {
			t.Errorf("last commit at %d: %+v ok=%v %v, want %d/%d", c.lsn, p, ok, err, c.end, c.newest)
		}
	}
	if p, ok, err := s.FirstCommitTime(450); err != nil || !ok || p.End != 500 || p.Newest != 1030 {
		t.Errorf("first commit at or after 450: %+v %v %v", p, ok, err)
	}
	if got, err := s.LastCommitBlock(650); err != nil || got != 1030 {
		t.Errorf("newest time of the blocks up to 650: %d %v", got, err)
	}
	if err := s.DropXactIndexAfter(0, 450); err != nil {
		t.Fatal(err)
	}
	if p, _, err := s.CommitAtTime(5000); err != nil || p.End != 400 {
		t.Errorf("after dropping above 450: last commit %+v %v", p, err)
	}
	if _, err := s.TrimXactIndex(350, 0, 1); err != nil {
		t.Fatal(err)
	}
	if p, ok, err := s.CommitAtTime(1020); err != nil || !ok || p.End != 400 {
		t.Errorf("after trimming below 350: %+v %v %v", p, ok, err)
	}
	if p, ok, err := s.FirstCommitTime(0); err != nil || !ok || p.End != 100 {
		t.Errorf("the block holding the horizon stays whole: %+v %v %v", p, ok, err)
	}
}

// TestXactIndexState: newest xids per shard as upper bounds by LSN,
// control events in a range, prepared transactions open at an LSN (ended
// ones, a newer PREPARE of a reused xid), and trimming.
func TestXactIndexState(t *testing.T) {
	s := openTest(t)
	w := s.NewWriter()
	w.PutXidSeen(0, 100, 700)
	w.PutXidSeen(0, 300, 720)
	w.PutXidSeen(1, 200, 710)
	w.PutControlEvent(150, &schema.ControlEvent{Kind: schema.EventNextOID, A: 24576})
	w.PutControlEvent(250, &schema.ControlEvent{Kind: schema.EventMultiXact, A: 5, B: 12})
	w.PutControlEvent(260, &schema.ControlEvent{Kind: schema.EventParameters, Params: &schema.Parameters{MaxConnections: 7, WALLevel: schema.WALLevelLogical}})
	w.PutPrepare(705, 110, 120, []byte("a"))
	w.PutPrepare(706, 130, 140, []byte("b"))
	w.PutPrepareEnd(705, 220)
	w.PutPrepare(705, 400, 410, []byte("c")) // the xid again, much later
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s.SetHorizon(0)
	for _, c := range []struct {
		shard int
		lsn   schema.LSN
		xid   uint32
		ok    bool
	}{{0, 99, 0, false}, {0, 100, 700, true}, {0, 299, 700, true}, {0, 5000, 720, true}, {1, 150, 0, false}, {1, 250, 710, true}} {
		xid, ok, err := s.XidSeen(c.shard, c.lsn)
		if err != nil || ok != c.ok || xid != c.xid {
			t.Errorf("xid seen by shard %d at %d: %d %v %v", c.shard, c.lsn, xid, ok, err)
		}
	}
	var kinds []schema.ControlEventKind
	if err := s.ControlEvents(150, 255, func(_ schema.LSN, e *schema.ControlEvent) bool {
		kinds = append(kinds, e.Kind)
		return true
	}); err != nil || len(kinds) != 2 || kinds[0] != schema.EventNextOID || kinds[1] != schema.EventMultiXact {
		t.Errorf("control events 150..255: %v %v", kinds, err)
	}
	prepared := func(lsn schema.LSN) string {
		ps, err := s.PreparedAt(lsn)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, p := range ps {
			out += string(p.State)
		}
		return out
	}
	for lsn, want := range map[schema.LSN]string{119: "", 120: "a", 140: "ab", 219: "ab", 220: "b", 410: "cb"} {
		if got := prepared(lsn); got != want {
			t.Errorf("prepared at %d: %q, want %q", lsn, got, want)
		}
	}
	if ended, err := s.PrepareEnded(705, 0, 219); err != nil || ended {
		t.Errorf("705 ended by 219: %v %v", ended, err)
	}
	if ended, err := s.PrepareEnded(705, 0, 220); err != nil || !ended {
		t.Errorf("705 ended by 220: %v %v", ended, err)
	}
	if _, err := s.TrimXactIndex(300, 255, 2); err != nil {
		t.Fatal(err)
	}
	if xid, ok, _ := s.XidSeen(0, 5000); !ok || xid != 720 {
		t.Errorf("after the trim, shard 0's newest: %d %v", xid, ok)
	}
	if xid, ok, _ := s.XidSeen(0, 299); ok {
		t.Errorf("after the trim, shard 0 at 299 still has %d", xid)
	}
	kinds = nil
	_ = s.ControlEvents(0, 1000, func(_ schema.LSN, e *schema.ControlEvent) bool { kinds = append(kinds, e.Kind); return true })
	if len(kinds) != 1 || kinds[0] != schema.EventParameters {
		t.Errorf("control events after the trim: %v", kinds)
	}
	if got := prepared(410); got != "cb" {
		t.Errorf("prepared at 410 after the trim: %q", got)
	}
	if got := prepared(130); got != "" {
		t.Errorf("prepared at 130 after the trim: %q (the ended PREPARE should be gone)", got)
	}
}
