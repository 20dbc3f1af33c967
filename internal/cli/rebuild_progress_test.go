package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/redo/rebuild"
)

// TestRebuildProgressLine: the progress bar's line and the summary.
func TestRebuildProgressLine(t *testing.T) {
	p := rebuild.Progress{BasePages: 100, BaseTotal: 100, Applied: 0x2000000, Target: 0x3000000,
		WALDone: 16 << 20, WALTotal: 32 << 20, Records: 1234, Versions: 2000, Elapsed: 3 * time.Second, WALElapsed: 2 * time.Second}
	line := progressLine(p)
	for _, want := range []string{"[############............]", " 50.0%", "WAL 16.8/33.6 MB", "8.4 MB/s", "ETA 0:02", "1234 records"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	p.Importing, p.BasePages = true, 25
	if line := progressLine(p); !strings.Contains(line, "base 25/100 pages") || !strings.Contains(line, " 25.0%") {
		t.Errorf("import line %q", line)
	}
	p.Importing, p.Done, p.WALDone = false, true, p.WALTotal
	sum := summaryLine(p, "/d/pages", 50e6)
	for _, want := range []string{"33.8 MB (base 0.2 MB + WAL 33.6 MB) in 3.00 s, 11.3 MB/s (WAL replay 16.8 MB/s)", "25 base pages + 2000 page versions", "store 50.0 MB"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	var b strings.Builder
	bar := &progressBar{out: &b}
	bar.draw("long line here")
	bar.draw("short")
	bar.finish()
	if got := b.String(); got != "\rlong line here\rshort         \n" {
		t.Errorf("bar output %q", got)
	}
}
