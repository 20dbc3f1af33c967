package bench

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchRedo runs `redo` on a little pgbench WAL: a row with
// rates for pagemill serial, 1 and 2 workers, and PostgreSQL's crash
// recovery, the ratio line, and no unsupported record.
func TestBenchRedo(t *testing.T) {
	s := runBench(t, 3*time.Minute, "redo", "--size-mb", "5", "--runs", "2", "--workers", "1,2", "--settle", "0s", "--log-level", "warn", "--dir", t.TempDir())
	head := regexp.MustCompile(`^WAL [0-9A-F]+/[0-9A-F]+\.\.[0-9A-F]+/[0-9A-F]+: ([0-9.]+) MB, (\d+) records`).FindStringSubmatch(s)
	if head == nil {
		t.Fatalf("no WAL line:\n%s", s)
	}
	if mb, _ := strconv.ParseFloat(head[1], 64); mb < 5 {
		t.Errorf("%v MB of WAL, want at least 5", mb)
	}
	if n, _ := strconv.Atoi(head[2]); n == 0 {
		t.Errorf("no records")
	}
	row := regexp.MustCompile(`(?m)^(pagemill redo, serial|pagemill redo, reader \+ 1 worker|pagemill redo, reader \+ 2 workers|PostgreSQL crash recovery)\b.*?\s+(\d+\.\d{3})\s+(\S+)\s+(\S+)\s+(\S+)\s`)
	seen := map[string]bool{}
	pgZero := false
	for _, m := range row.FindAllStringSubmatch(s, -1) {
		mbps, err1 := strconv.ParseFloat(m[3], 64)
		rps, err2 := strconv.ParseFloat(m[4], 64)
		// PostgreSQL logs its redo time in hundredths: a tiny WAL may
		// read 0.00 s, printed without rates.
		if m[1] == "PostgreSQL crash recovery" && m[3] == "-" {
			seen[m[1]] = true
			pgZero = true
			continue
		}
		if err1 != nil || err2 != nil || mbps <= 0 || rps <= 0 {
			t.Errorf("row %q: MB/s %q, records/s %q", m[0], m[3], m[4])
		}
		seen[m[1]] = true
	}
	for _, name := range []string{"pagemill redo, serial", "pagemill redo, reader + 1 worker", "pagemill redo, reader + 2 workers", "PostgreSQL crash recovery"} {
		if !seen[name] {
			t.Errorf("no row %q", name)
		}
	}
	if !pgZero && !regexp.MustCompile(`speed vs PostgreSQL crash recovery .*: serial [0-9.]+x, 1 worker [0-9.]+x, 2 workers [0-9.]+x`).MatchString(s) {
		t.Errorf("no ratio line:\n%s", s)
	}
	// The same pages in memory at the end, whatever the workers; nothing
	// unsupported in pgbench's WAL.
	pages := regexp.MustCompile(`(?m)^pagemill (serial|1 worker|2 workers): (\d+) unsupported applications, (\d+) pages in memory at the end$`).FindAllStringSubmatch(s, -1)
	if len(pages) != 3 {
		t.Fatalf("want 3 page lines:\n%s", s)
	}
	for _, p := range pages {
		if p[2] != "0" {
			t.Errorf("%s: %s unsupported", p[1], p[2])
		}
		if p[3] != pages[0][3] || p[3] == "0" {
			t.Errorf("%s: %s pages, serial %s", p[1], p[3], pages[0][3])
		}
	}
	if !regexp.MustCompile(`PostgreSQL: redo starts at \S+, done at \S+`).MatchString(s) {
		t.Errorf("no PostgreSQL redo range:\n%s", s)
	}
	if strings.Contains(s, "note: PostgreSQL replayed") {
		t.Errorf("PostgreSQL and pagemill replayed different ranges:\n%s", s)
	}
}

// TestBenchRedoIndexAM runs `redo --workload indexam` on a little
// WAL: no unsupported record, PostgreSQL's recovery timed beside it, and a
// per-resource-manager line for every index access method.
func TestBenchRedoIndexAM(t *testing.T) {
	s := runBench(t, 3*time.Minute, "redo", "--workload", "indexam", "--size-mb", "8", "--runs", "1", "--workers", "2", "--settle", "0s",
		"--log-level", "warn", "--dir", t.TempDir())
	for _, m := range regexp.MustCompile(`(?m)^pagemill (serial|2 workers): (\d+) unsupported`).FindAllStringSubmatch(s, -1) {
		if m[2] != "0" {
			t.Errorf("%s: %s unsupported", m[1], m[2])
		}
	}
	if !strings.Contains(s, "PostgreSQL crash recovery") {
		t.Errorf("no PostgreSQL row:\n%s", s)
	}
	for _, rm := range []string{"Hash", "Gin", "Gist", "SPGist", "BRIN", "Generic"} {
		if !regexp.MustCompile(`(?m)^` + rm + `\s+[1-9]\d*\s+[0-9.]+\s+\S+\s+[0-9.]+$`).MatchString(s) {
			t.Errorf("no per-rmgr line for %s:\n%s", rm, s)
		}
	}
}
