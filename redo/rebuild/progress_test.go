package rebuild

import (
	"testing"
	"time"
)

// TestProgressRates: rates, ETA and the fraction done of each phase.
func TestProgressRates(t *testing.T) {
	p := Progress{BasePages: 100, BaseTotal: 200, WALDone: 10e6, WALTotal: 40e6, Elapsed: 4 * time.Second, WALElapsed: 2 * time.Second}
	if got := p.WALRate(); got != 5 {
		t.Errorf("WALRate %v, want 5", got)
	}
	if got, want := p.Rate(), (0.8192+10)/4; got != want {
		t.Errorf("Rate %v, want %v", got, want)
	}
	if got := p.ETA(); got != 6*time.Second {
		t.Errorf("ETA %v, want 6s", got)
	}
	if got := p.Fraction(); got != 0.25 {
		t.Errorf("WAL fraction %v", got)
	}
	p.Importing = true
	if p.ETA() != -1 || p.Fraction() != 0.5 {
		t.Errorf("importing: ETA %v, fraction %v", p.ETA(), p.Fraction())
	}
	p.Importing, p.WALTotal, p.WALDone = false, 0, 0
	if p.Fraction() != 1 {
		t.Errorf("no WAL to replay: fraction %v", p.Fraction())
	}
	p.Done = true
	if p.ETA() != 0 {
		t.Errorf("done: ETA %v", p.ETA())
	}
	for d, want := range map[time.Duration]string{-1: "--", 0: "0:00", 61 * time.Second: "1:01", 3723 * time.Second: "1:02:03"} {
		if got := FormatETA(d); got != want {
			t.Errorf("FormatETA(%v) = %q, want %q", d, got, want)
		}
	}
}
