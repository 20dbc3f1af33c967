package bench

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchRestore runs `restore` on a little WAL: the pagemill
// restore, the classic base backup + WAL replay and the rebuild print
// positive seconds, MB and MB/s, cp -r of the source's data directory its
// seconds, the ratios are printed, the restored server's log shows no
// redo, and both restored clusters answered sum(abalance) with the
// source's value.
func TestBenchRestore(t *testing.T) {
	out := runBench(t, 3*time.Minute, "restore", "--scale", "1", "--size-mb", "15", "--shards", "2", "--dir", t.TempDir())
	for _, name := range []string{"pagemill restore", "classic base backup + WAL replay", "pagemill rebuild"} {
		re := `(?m)^` + regexp.QuoteMeta(name) + `\s+(\d+\.\d+)\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)$`
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no row %q:\n%s", name, out)
		}
		for i, what := range []string{"seconds", "WAL MB", "WAL MB/s", "data MB"} {
			if v, _ := strconv.ParseFloat(m[i+1], 64); v <= 0 {
				t.Errorf("row %q: %s %s", name, what, m[i+1])
			}
		}
	}
	for _, sub := range []string{
		`(?m)^  write the data directory \(no replay\)\s+(\d+\.\d+)\s`,
		`(?m)^  PostgreSQL start to a connection\s+(\d+\.\d+)\s+log: no redo`,
		`(?m)^  \(the same restore as a tar, to io.Discard\)\s+(\d+\.\d+)\s`,
		`(?m)^cp -r of the source's data directory\s+(\d+\.\d+)\s`,
		`(?m)^  \(without pg_wal, of .*?\)\s+(\d+\.\d+)\s`,
		`(?m)^  copy the base backup .*?\s(\d+\.\d+)\s`,
		`(?m)^  PostgreSQL start, archive recovery, promotion\s+(\d+\.\d+)\s`,
		`ratio pagemill restore / cp -r \(seconds\): (\d+\.\d+)`,
		`ratio classic/pagemill restore \(seconds\): (\d+\.\d+)`,
	} {
		m := regexp.MustCompile(sub).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no line %s:\n%s", sub, out)
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
			t.Errorf("%q: %s", m[0], m[1])
		}
	}
	if !regexp.MustCompile(`(?m)^restored server's log \(pagemill\): no redo$`).MatchString(out) {
		t.Errorf("the restored server's log shows redo:\n%s", out)
	}
	m := regexp.MustCompile(`sum\(abalance\) at \S+: source (-?\d+), pagemill restore (-?\d+), classic (-?\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no sum(abalance) line (did both restored clusters answer?):\n%s", out)
	}
	if m[2] != m[1] || m[3] != m[1] {
		t.Errorf("sum(abalance): source %s, pagemill restore %s, classic %s", m[1], m[2], m[3])
	}
}
