package schema

import "testing"

func TestTimeLineHistory(t *testing.T) {
	h, err := ParseTimeLineHistory(3, []byte("1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tno recovery target specified\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.String(), "1@0/00000000-0/03000158 2@0/03000158-0/05000000 3@0/05000000-"; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	for _, c := range []struct {
		lsn LSN
		tli TimeLineID
	}{{0x10, 1}, {0x3000157, 1}, {0x3000158, 2}, {0x4FFFFFF, 2}, {0x5000000, 3}, {0x9000000, 3}} {
		if got := h.TLIOf(c.lsn); got != c.tli {
			t.Errorf("TLIOf(%s) = %d, want %d", c.lsn, got, c.tli)
		}
	}
	for _, c := range []struct {
		tli TimeLineID
		end LSN
		own bool
	}{
		{1, 0x3000158, true}, {1, 0x3000159, false}, // the record ending at the switch point is the parent's
		{2, 0x3000158, false}, {2, 0x3000160, true}, {2, 0x5000000, true}, {2, 0x5000001, false},
		{3, 0x5000001, true}, {3, 0x5000000, false}, {4, 0x6000000, false},
	} {
		if got := h.OwnsEnd(c.tli, c.end); got != c.own {
			t.Errorf("OwnsEnd(%d, %s) = %v, want %v", c.tli, c.end, got, c.own)
		}
	}
	if sp, ok := h.SwitchPoint(2); !ok || sp != 0x5000000 {
		t.Errorf("SwitchPoint(2) = %s, %v", sp, ok)
	}
	if _, ok := h.SwitchPoint(7); ok {
		t.Error("SwitchPoint(7) found")
	}
	b, _ := h.MarshalBinary()
	h2, err := UnmarshalTimeLineHistory(b)
	if err != nil || h2.String() != h.String() {
		t.Fatalf("round trip: %v %s", err, h2)
	}
	back, err := ParseTimeLineHistory(3, h.HistoryFile())
	if err != nil || back.String() != h.String() {
		t.Fatalf("history file round trip: %v %s", err, back)
	}
	if !h.Follows(h[:2:2]) || !h.Follows(SingleTimeLine(1)) || h[:2].Follows(h) {
		t.Error("Follows")
	}
	if SingleTimeLine(2).Follows(SingleTimeLine(1)) {
		t.Error("timeline 2 alone follows 1")
	}
	for _, bad := range []string{"2\t0/1\tx\n1\t0/2\ty\n", "1\tzz\n", "x\t0/1\n", "3\t0/1\n"} {
		if _, err := ParseTimeLineHistory(3, []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
